"""The one reader of the environment: ``TOUCHLINE_*`` variables and an optional TOML file."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from touchline.channels import DEFAULT_FALLBACK_ORDER

KB = 1024


def _config_file() -> Path:
    return Path(os.environ.get("TOUCHLINE_CONFIG", "touchline.toml"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOUCHLINE_", extra="ignore")

    data_dir: Path = Field(Path("touchline-data"), description="Where the embedded stores live.")
    database_url: str | None = Field(None, description="State store URL; SQLite file in data_dir if unset.")
    events_url: str | None = Field(None, description="Event store URL; DuckDB file in data_dir if unset.")

    write_key: SecretStr | None = Field(None, description="Seeds a write key for the default workspace.")
    admin_token: SecretStr | None = Field(None, description="Seeds an admin token for the default workspace.")
    default_workspace: str = "default"

    default_timezone: str = "Asia/Seoul"
    default_phone_region: str = "KR"
    # The shop's currency (ISO 4217): how the dashboard and the reports write revenue (``revenue`` and
    # ``price`` properties are amounts in it: 59000 won, 33.20 dollars).
    default_currency: str = Field("KRW", pattern=r"^[A-Z]{3}$")

    # Two different userIds reaching one profile: keep them apart and record a conflict, or merge anyway.
    user_id_conflict: Literal["keep_separate", "merge"] = "keep_separate"

    # Segment's documented limits: 32 KB an event, 500 KB a batch request.
    max_event_bytes: int = 32 * KB
    max_batch_bytes: int = 500 * KB

    # How often the embedded server moves staged events into the event store.
    pump_interval_seconds: float = 0.25
    pump_batch_rows: int = 20_000

    # Live segments: re-evaluated for customers with new events this often, and for everyone (so that
    # "active in the last 7 days" ends on day 8 without a new event) at the slower pace.
    segment_live_interval_seconds: float = 2.0
    # Recommendations (touchline.personalization): a full training this often, the histories in memory
    # brought up to date with new events this often, and an answer of /v1/recommendations kept this long.
    recommendations_retrain_hours: float = Field(6.0, gt=0)
    recommendations_refresh_seconds: float = Field(30.0, gt=0)
    recommendations_cache_seconds: float = Field(30.0, ge=0)
    segment_full_refresh_seconds: float = 60.0
    # Predictions (purchase propensity, churn risk): each workspace's models are retrained, and every
    # customer scored again, this often by the server and ``touchline worker`` (0: only on request, with
    # ``touchline predict`` or POST /v1/predictions/retrain).
    prediction_retrain_hours: float = Field(24.0, ge=0)
    # RFM quintile cut-offs rank a customer among every buyer; ranking them all on each live round was
    # most of its cost on a big store. Live rounds reuse the cut-offs for up to this long (by the
    # rounds' clock) and the full refresh renews them, so in a running server they are at most one
    # full refresh old. 0: computed on every round.
    segment_rfm_max_age_seconds: float = Field(900.0, ge=0)

    # Erase: an erased customer's bytes are gone from every file of every store at most this many seconds
    # after the erase answers. The embedded event store (DuckDB, which leaves deleted rows' bytes in
    # freed blocks) is copied into a fresh file, SQLite's write-ahead log truncated, PostgreSQL's
    # touched tables vacuumed: by the pump at its first round after an erase, and no sooner than half
    # this time after the previous purge, so that a burst of erases shares one rewrite (see README).
    erase_purge_seconds: float = Field(60.0, gt=0)

    # PostgreSQL event store: memory each sort or hash of a report may use before it spills to disk
    # (the server's default, 4MB, made the 90-day overview of 1M events sort on disk: 2.4 s -> 1.3 s).
    events_work_mem: str = Field("64MB", pattern=r"^[0-9]+(kB|MB|GB)$")

    # Dashboard sign-in: a session ends after this long without a request; cookies are Secure when the
    # request came over HTTPS (behind a proxy: X-Forwarded-Proto), or always / never when set.
    web_session_idle_hours: float = 12.0
    web_secure_cookies: bool | None = None
    # Failed sign-ins (touchline.web.throttle): an account is locked after this many failures in a row,
    # a client address after this many on any accounts; the lock lasts the first period, doubles with
    # each failure after it, up to the longest; failures are forgotten after the forget period without one.
    web_signin_account_failures: int = Field(5, ge=1)
    web_signin_client_failures: int = Field(20, ge=1)
    web_signin_lock_seconds: float = Field(60.0, gt=0)
    web_signin_max_lock_seconds: float = Field(900.0, gt=0)
    web_signin_forget_seconds: float = Field(3600.0, gt=0)

    # Conversations (touchline.conversations). A customer's message to a conversation resolved less
    # than conversation_reopen_hours ago reopens it; later, it starts a new one. The live feed's poller
    # reads new changes this often (a change made in this process wakes it at once); on PostgreSQL it
    # waits up to conversation_feed_gap_seconds for a change numbered before one already visible (its
    # transaction not yet committed). Feed rows are kept conversation_feed_retention_hours for clients
    # that reconnect. A message body (inbound, reply, note) has at most conversation_body_chars.
    conversation_reopen_hours: float = Field(24.0, ge=0)
    conversation_feed_poll_seconds: float = Field(0.5, gt=0)
    conversation_feed_gap_seconds: float = Field(2.0, ge=0)
    conversation_feed_retention_hours: float = Field(72.0, gt=0)
    conversation_body_chars: int = Field(100_000, ge=1, le=1_000_000)

    host: str = "127.0.0.1"
    port: int = 8000
    # Where customers reach this server: tracked links, the open pixel and unsubscribe links point here.
    public_url: str = "http://127.0.0.1:8000"
    # Web pages allowed to call the write-key endpoints (tracking, analytics.js settings, the inbox) from
    # the browser: "*" for any, or a comma-separated list such as "https://shop.example,https://m.shop.example".
    cors_origins: str = "*"

    # Journeys: how often the runner looks for due timers and queued signals when nothing woke it.
    runner_poll_seconds: float = 0.5
    # Signals, timers and outbox rows the journey runner takes per transaction. Each commit writes every
    # page the batch touched, and run and message ids are random keys spread over their indexes: the more
    # rows a commit carries, the fewer pages each costs (a 100k campaign: 1,000 a batch ~4,900-5,300
    # decisions + renders + outbox rows a second here, 4,000 ~5,100-5,500). A full batch of 4,000 holds
    # the write lock ingestion waits for on SQLite ~0.4 s; lower it where tracking latency matters more.
    journey_batch: int = Field(4000, ge=1, le=100_000)
    # An event older than this when it reaches the runner (an import of history, a client that was
    # offline for days) updates runs already going but starts none.
    journey_entry_max_age_hours: float = 24.0
    # A run whose step fails (a webhook body that does not render, a bug) is retried alone, after
    # journey_retry_seconds, then twice as long each time; after journey_retry_attempts failures in a row
    # it ends as failed. A journey with journey_pause_failures runs starting to fail within
    # journey_pause_window_minutes is paused with an alert (0: never).
    journey_retry_attempts: int = Field(default=5, ge=1, le=100)
    journey_retry_seconds: float = Field(default=60.0, gt=0)
    journey_pause_failures: int = Field(default=10, ge=0)
    journey_pause_window_minutes: float = Field(default=60.0, gt=0)
    # Outbox (see touchline.messaging.outbox). A dispatch claims up to outbox_batch due messages under a
    # lease, decides and renders them in one transaction, then sends them in groups of at most
    # outbox_group messages (a group also closes after outbox_group_ms of sending): before a group is
    # sent its lease is renewed, after it its outcomes are committed. outbox_group is the crash bound:
    # a worker killed mid-send leaves at most its group in flight, and only those messages may reach a
    # provider twice (under the same idempotency key). A group's messages go out over up to
    # outbox_send_threads connections at once (SMTP: one session, in order). A claimed message whose
    # worker died becomes claimable again after the lease (no send starts later than half-way through
    # it, so keep it above twice the longest send: providers time out after 10 s); failures are retried
    # with exponential backoff up to max attempts.
    # outbox_batch unset: 500 on PostgreSQL, where workers share the due messages (a smaller claim
    # spreads a campaign over them), 4,000 on the embedded store, where one process sends everything and
    # the claim only sets the transaction's size (bench/journeys.py, 20k customers: claims + decisions +
    # renders took 212-224 us CPU each in claims of 500, 174-186 us in claims of 4,000; a claim of 4,000
    # holds SQLite's write lock ~0.4 s).
    outbox_batch: int | None = Field(None, ge=1, le=100_000)
    outbox_group: int = Field(50, ge=1, le=10_000)
    outbox_group_ms: float = Field(1000.0, gt=0)
    outbox_send_threads: int = Field(4, ge=1, le=64)
    outbox_lease_seconds: float = Field(120.0, gt=0)
    outbox_max_attempts: int = 6
    outbox_backoff_seconds: float = 30.0

    # Send policy (see touchline.messaging.policy): quiet hours for advertising in the customer's time
    # zone (21:00-08:00 by default: 정보통신망법 제50조), "defer" to the morning or "suppress"; frequency
    # caps on advertising per rolling day, across channels and per channel.
    quiet_hours_start: str = "21:00"
    quiet_hours_end: str = "08:00"
    quiet_hours_mode: Literal["defer", "suppress"] = "defer"
    daily_cap: int | None = 2
    channel_daily_caps: dict[str, int] = Field(default_factory=dict)
    # push -> messenger -> SMS -> email, and the in-app inbox as the last resort (touchline.channels).
    fallback_order: tuple[str, ...] = DEFAULT_FALLBACK_ORDER

    # Message templates: every render (all the parts of one message, a preview, a journey's webhook body)
    # runs under these limits, and a template is tried with a sample customer under them when saved; a
    # hostile or mistaken template costs its author an error and nobody else anything (see
    # touchline.messaging.sandbox). Operations are loop iterations, operators, calls and filters; a value is
    # any string or list a template builds (its printed size); output is each part's length, in characters.
    template_render_timeout_ms: float = Field(100.0, gt=0)
    template_max_operations: int = Field(200_000, ge=1_000)
    template_max_output_kib: int = Field(64, ge=1)
    template_max_html_kib: int = Field(256, ge=1)
    template_max_value_kib: int = Field(256, ge=1)

    # The demo shop's product page with analytics.js and the in-app SDK (/demo-shop/product/{id}): for trying
    # in-app messages in a browser after `touchline demo`; off on a real shop's server. The browser loads
    # Segment's analytics.js from this URL.
    demo_storefront: bool = False
    demo_analytics_js_url: str = "https://cdn.jsdelivr.net/npm/@segment/analytics-next@1.84.3/dist/umd/index.js"

    # Channels. A channel with no provider configured is unavailable (the policy falls back to the next
    # one), unless dev_channels is on: then it "delivers" into the outbox log only (for demos).
    dev_channels: bool = False
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "shop@example.com"
    smtp_from_name: str | None = None
    # SMS: Twilio's Messages API.
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_base_url: str = "https://api.twilio.com"
    # Korean advertising SMS (정보통신망법 제50조): "(광고)" and this name first, the free opt-out line
    # ("무료수신거부 080-123-4567") last, added when the outbox renders; without the line none is sent.
    sms_ad_sender_name: str | None = None
    sms_ad_opt_out_line: str | None = None
    # Messenger: NHN Cloud KakaoTalk AlimTalk, or the WhatsApp Cloud API.
    messenger_provider: Literal["nhn_alimtalk", "whatsapp"] | None = None
    nhn_app_key: str | None = None
    nhn_secret_key: SecretStr | None = None
    nhn_sender_key: str | None = None
    nhn_base_url: str = "https://api-alimtalk.cloud.toast.com"
    whatsapp_phone_number_id: str | None = None
    whatsapp_access_token: SecretStr | None = None
    whatsapp_base_url: str = "https://graph.facebook.com"
    # Inbound channels (README, "Inbound channels"): what the providers' webhooks are checked with.
    # WhatsApp signs each POST with the app's secret (X-Hub-Signature-256) and proves the callback URL
    # with the verify token; Kakao i Open Builder sends the header configured on the skill server.
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    kakao_skill_secret: SecretStr | None = None
    # The bot's thread builds every workspace's assistant at start (the Korean analyser, the sentence
    # encoder, the FAQ's and the catalog's indexes: seconds of CPU, once), so that the first question after
    # a start is answered within KakaoTalk's 5 s; off, the first question builds it.
    assistant_warm_start: bool = True
    kakao_bot_id: str | None = None
    # E-mail replies: an SMTP listener started with the server when a port is set.
    inbound_smtp_host: str = "127.0.0.1"
    inbound_smtp_port: int | None = None
    inbound_max_bytes: int = Field(1024 * 1024, ge=1024)
    # Push: Firebase Cloud Messaging HTTP v1. A Bearer token minted elsewhere (fcm_access_token), or the
    # service account's JSON key file to mint tokens from (needs the 'cryptography' package).
    fcm_project_id: str | None = None
    fcm_access_token: SecretStr | None = None
    fcm_service_account_file: str | None = None
    fcm_base_url: str = "https://fcm.googleapis.com"
    fcm_android_channel_id: str | None = None
    # Webhook channel (and the default target of journey webhook steps' signatures).
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, env_settings, toml, file_secret_settings)

    @cached_property
    def state_url(self) -> str:
        if self.database_url:
            return _normalise_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'state.sqlite3').resolve()}"

    @cached_property
    def event_store_url(self) -> str:
        if self.events_url:
            return _normalise_url(self.events_url)
        return f"duckdb:///{(self.data_dir / 'events.duckdb').resolve()}"


def _normalise_url(url: str) -> str:
    """Accept the plain ``postgresql://`` spelling people copy from elsewhere; we drive it with psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
