"""Channels: adapters behind one interface, ``Channel.send(OutboundMessage) -> Sent | Skipped | Failed``."""

from touchline.messaging.channels.base import (
    AdMarking,
    BatchingChannel,
    Channel,
    Failed,
    OutboundMessage,
    SendResult,
    Sent,
    Skipped,
    as_sent,
    korean_ad_subject,
    korean_ad_text,
)
from touchline.messaging.channels.memory import MemoryChannel
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

__all__ = [
    "AdMarking",
    "BatchingChannel",
    "Channel",
    "Failed",
    "FcmChannel",
    "FcmConfig",
    "MemoryChannel",
    "NhnAlimTalkChannel",
    "NhnAlimTalkConfig",
    "OutboundMessage",
    "SendResult",
    "Sent",
    "Skipped",
    "SmtpChannel",
    "SmtpConfig",
    "TwilioConfig",
    "TwilioSmsChannel",
    "WebhookChannel",
    "WebhookConfig",
    "WhatsAppCloudChannel",
    "WhatsAppConfig",
    "as_sent",
    "korean_ad_subject",
    "korean_ad_text",
]
