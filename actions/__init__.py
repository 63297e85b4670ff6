"""Rasa custom actions, served by rasa-sdk: ``python -m rasa_sdk --actions actions``.

Actions only adapt dialogue to the modules in ``bot/``; business logic lives there. The wiring
(``python -m bot actions``) gives them their services through ``configure``.
"""

from actions._context import ActionServices, configure
from actions.handoff import ActionFallbackGiveUp, ActionHandoff
from actions.knowledge import ActionAnswerFromKnowledge
from actions.orders import (
    ActionAskAddressConfirmed,
    ActionAskCancelConfirmed,
    ActionAskNewAddress,
    ActionAskPhoneLast4,
    ActionAskReturnConfirmed,
    ActionFormStopped,
    ActionOrderIdGiven,
    ActionOrderStatus,
    ActionSubmitAddress,
    ActionSubmitCancel,
    ActionSubmitReturn,
    ValidateAddressForm,
    ValidateCancelForm,
    ValidateOrderStatusForm,
    ValidateReturnForm,
)
from actions.service import (
    ActionFallbackSuggest,
    ActionHandleComplaint,
    ActionRecommend,
    ActionRecommendSimilar,
    ValidateRecommendForm,
)
from actions.smalltalk import ActionOutOfScope
from actions.tasks import ActionResumeTask, ActionSwitchTask, ActionUnsupportedRequest
from actions.tickets import (
    ActionAddTicketInfo,
    ActionOpenTicket,
    ActionTicketStatus,
    ValidateTicketForm,
    ValidateTicketInfoForm,
)

__all__ = [
    "ActionAddTicketInfo",
    "ActionAnswerFromKnowledge",
    "ActionAskAddressConfirmed",
    "ActionAskCancelConfirmed",
    "ActionAskNewAddress",
    "ActionAskPhoneLast4",
    "ActionAskReturnConfirmed",
    "ActionFallbackGiveUp",
    "ActionFallbackSuggest",
    "ActionFormStopped",
    "ActionHandleComplaint",
    "ActionHandoff",
    "ActionOpenTicket",
    "ActionOrderIdGiven",
    "ActionOrderStatus",
    "ActionOutOfScope",
    "ActionRecommend",
    "ActionRecommendSimilar",
    "ActionResumeTask",
    "ActionServices",
    "ActionSubmitAddress",
    "ActionSubmitCancel",
    "ActionSubmitReturn",
    "ActionSwitchTask",
    "ActionTicketStatus",
    "ActionUnsupportedRequest",
    "ValidateAddressForm",
    "ValidateCancelForm",
    "ValidateOrderStatusForm",
    "ValidateRecommendForm",
    "ValidateReturnForm",
    "ValidateTicketForm",
    "ValidateTicketInfoForm",
    "configure",
]
