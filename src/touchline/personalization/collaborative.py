"""Collaborative filtering with ``implicit`` (no I/O): alternating least squares on implicit feedback (Hu,
Koren & Volinsky 2008) and item-kNN over BM25-weighted interactions. Each returns what
:func:`touchline.personalization.model.build` takes: ALS its item factors (a customer's own factors are
solved from their history when they are asked for, see ``Model.personal_scores``), item-kNN its neighbour
matrix. Fitting runs with the BLAS thread pool at one thread, as ``implicit`` asks (its own threads do the
work), and without progress bars."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

from touchline.personalization.model import TOP_K

__all__ = ["AlsParams", "fit_als", "fit_item_knn"]


@dataclass(frozen=True)
class AlsParams:
    factors: int = 32
    regularization: float = 0.05
    alpha: float = 10.0  # confidence per unit of weight (a purchase weighs 4, a view 1)
    iterations: int = 10
    threads: int = 1  # one core left to the server that trains in the background
    seed: int = 0


def fit_als(weights: sparse.csr_matrix, params: AlsParams = AlsParams()) -> np.ndarray:
    """Item factors (products x factors) of customers x products ``weights``."""
    from implicit.cpu.als import AlternatingLeastSquares

    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*threadpool.*")
        model = AlternatingLeastSquares(factors=params.factors, regularization=params.regularization,
                                        alpha=params.alpha, iterations=params.iterations, num_threads=params.threads,
                                        random_state=params.seed)
        model.fit(sparse.csr_matrix(weights, dtype=np.float32), show_progress=False)
    return np.asarray(model.item_factors, dtype=np.float32)


def fit_item_knn(weights: sparse.csr_matrix, k: int = TOP_K, threads: int = 1) -> sparse.csr_matrix:
    """Products x products: each product's ``k`` nearest neighbours over BM25-weighted customers."""
    from implicit.nearest_neighbours import BM25Recommender

    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*threadpool.*")
        # BM25's weighting hands implicit's own fit a COO matrix, which it converts and warns about.
        warnings.filterwarnings("ignore", message=".*expects CSR input.*")
        model = BM25Recommender(K=k + 1, num_threads=threads)  # + 1: a product is among its own neighbours
        model.fit(sparse.csr_matrix(weights, dtype=np.float32), show_progress=False)
    return sparse.csr_matrix(model.similarity, dtype=np.float32)
