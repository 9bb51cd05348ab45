"""Which adapter serves each channel, built from settings.

A channel without a configured provider is unavailable: the send policy passes over it to the next
channel in the fallback order. With ``dev_channels`` on (the demo), such a channel "delivers" into the
outbox log only, through :class:`DevChannel`, so a shop can try journeys before it has providers.
The in-app inbox needs no provider: the outbox writes it into the state store itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from touchline.channels import INBOX, PROVIDER_CHANNELS, PROVIDER_SETTINGS
from touchline.messaging.channels.base import Channel, OutboundMessage, SendResult, Sent, Skipped
from touchline.messaging.channels.messenger import (
    NhnAlimTalkChannel,
    NhnAlimTalkConfig,
    WhatsAppCloudChannel,
    WhatsAppConfig,
)
from touchline.messaging.channels.push import FcmChannel, FcmConfig
from touchline.messaging.channels.sms import TwilioConfig, TwilioSmsChannel
from touchline.messaging.channels.smtp import SmtpChannel, SmtpConfig
from touchline.messaging.channels.webhook import WebhookChannel, WebhookConfig
from touchline.settings import Settings

__all__ = ["INBOX", "PROVIDER_CHANNELS", "DevChannel", "build_channels", "channels_without_provider"]

# INBOX and PROVIDER_CHANNELS (what a shop sends on, each through a provider): touchline.channels.


@dataclass
class DevChannel:
    """Accepts every message with an address and sends it nowhere: the outbox row is the record."""

    name: str

    def send(self, message: OutboundMessage) -> SendResult:
        if not message.to:
            return Skipped("no_address")
        return Sent(f"dev-{self.name}-{message.idempotency_key}")


def _secret(value: object) -> str:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter else str(value or "")


def build_channels(settings: Settings, overrides: Mapping[str, Channel] | None = None) -> dict[str, Channel]:
    """channel name -> adapter, for every channel that can send (``in_app`` is handled by the outbox)."""
    out: dict[str, Channel] = {}
    if settings.smtp_host:
        out["email"] = SmtpChannel(SmtpConfig(
            host=settings.smtp_host, port=settings.smtp_port, security=settings.smtp_security,
            username=settings.smtp_username, password=_secret(settings.smtp_password) or None,
            from_address=settings.smtp_from, from_name=settings.smtp_from_name))
    if settings.twilio_account_sid and settings.twilio_auth_token:
        out["sms"] = TwilioSmsChannel(TwilioConfig(
            account_sid=settings.twilio_account_sid, auth_token=_secret(settings.twilio_auth_token),
            from_number=settings.twilio_from, base_url=settings.twilio_base_url))
    if settings.messenger_provider == "nhn_alimtalk" and settings.nhn_app_key and settings.nhn_sender_key:
        out["messenger"] = NhnAlimTalkChannel(NhnAlimTalkConfig(
            app_key=settings.nhn_app_key, secret_key=_secret(settings.nhn_secret_key),
            sender_key=settings.nhn_sender_key, base_url=settings.nhn_base_url))
    elif settings.messenger_provider == "whatsapp" and settings.whatsapp_phone_number_id:
        out["messenger"] = WhatsAppCloudChannel(WhatsAppConfig(
            phone_number_id=settings.whatsapp_phone_number_id,
            access_token=_secret(settings.whatsapp_access_token), base_url=settings.whatsapp_base_url))
    if settings.fcm_project_id and (settings.fcm_access_token or settings.fcm_service_account_file):
        out["push"] = FcmChannel(FcmConfig(
            project_id=settings.fcm_project_id, access_token=_secret(settings.fcm_access_token) or None,
            service_account_file=settings.fcm_service_account_file, base_url=settings.fcm_base_url,
            android_channel_id=settings.fcm_android_channel_id))
    if settings.webhook_url:
        out["webhook"] = WebhookChannel(WebhookConfig(url=settings.webhook_url,
                                                      secret=_secret(settings.webhook_secret)))
    if settings.dev_channels:
        for name in PROVIDER_SETTINGS:  # every channel sent through a provider
            out.setdefault(name, DevChannel(name))
    out.update(overrides or {})
    return out


def channels_without_provider(settings: Settings) -> list[str]:
    """The customer channels this server cannot send on (no provider configured, no development channels):
    messages that could only go there are suppressed as ``channel_not_configured``."""
    configured = build_channels(settings)
    return [name for name in PROVIDER_CHANNELS if name not in configured]
