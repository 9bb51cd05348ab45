"""Predictions as traits (issue 17): purchase propensity and churn risk learned from the event store,
backtested in time, retrained on a schedule, and written into the customers' profiles."""
