"""Message: templates, tracked links, channel adapters and the send policy (pure building blocks).

The outbox, its worker and the journey runner sit on top of this API.
"""

from touchline.messaging.links import TrackedHtml, track_links
from touchline.messaging.policy import (
    Cap,
    Decision,
    MessageIntent,
    PastSend,
    PolicyConfig,
    Recipient,
    Send,
    Suppressed,
    SuppressReason,
    decide,
)
from touchline.messaging.templates import (
    CompiledTemplate,
    MessageTemplate,
    TemplateRenderError,
    TemplateSecurityError,
    render_template,
    validate_template,
)
from touchline.messaging.types import MessageKind, RenderedContent

__all__ = [
    "Cap",
    "CompiledTemplate",
    "Decision",
    "MessageIntent",
    "MessageKind",
    "MessageTemplate",
    "PastSend",
    "PolicyConfig",
    "Recipient",
    "RenderedContent",
    "Send",
    "SuppressReason",
    "Suppressed",
    "TemplateRenderError",
    "TemplateSecurityError",
    "TrackedHtml",
    "decide",
    "render_template",
    "track_links",
    "validate_template",
]
