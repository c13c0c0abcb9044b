"""A realistic 30-message delivery complaint (customer and assistant) with the facts the
dialogue collected: what the summariser tests read."""

from __future__ import annotations

from bot.nlp.summary import Facts, Utterance

C, A = "customer", "assistant"
CARD = "4929 1234 5678 9012"

# 30 messages over SMS and email style: greetings, a verification code, a card number the
# customer should not have typed, and the actual problem spread over several messages.
CONVERSATION: list[tuple[str, str, float | None]] = [
    (C, "hi", 0.1),
    (A, "Hello! I'm the virtual assistant. How can I help you today?", None),
    (C, "my parcel hasnt arrived", -0.2),
    (A, "Sorry to hear that. Can you give me your order number?", None),
    (C, "its ORD-10042", 0.0),
    (A, "To look at your order I need to verify you. I've sent a code to your phone.", None),
    (C, "482913", None),
    (A, "Thanks, you're verified. Order ORD-10042 was due on 3 May.", None),
    (C, "Yes. It was supposed to come on 3 May and it's now the 12th.", -0.3),
    (A, "The tracking shows the parcel as delivered on 9 May at 14:02.", None),
    (
        C,
        "Hello,\n\nThat is simply not true. Nobody delivered anything to my address on 9 May, "
        "I was at home all day working from home. The tracking photo shows a door that is "
        "not even mine.\n\nKind regards,\nAlice",
        -0.55,
    ),
    (A, "I'm sorry. Would you like me to file a complaint about the delivery?", None),
    (C, "yes please", 0.0),
    (A, "What happened, in a few words?", None),
    (
        C,
        "The courier marked my order as delivered but it never arrived and the photo is of "
        "someone else's front door.",
        -0.6,
    ),
    (A, "What outcome would you like?", None),
    (C, "I want a refund of the £49.99 I paid, not a replacement.", -0.5),
    (A, "Thank you. I've filed complaint CMP-7K3Q9 about the delivery of ORD-10042.", None),
    (C, "ok", 0.0),
    (
        A,
        "Your refund request for £49.99 is over my automatic limit; a colleague will review it.",
        None,
    ),
    (C, f"Can you just put it back on my card {CARD} today?", -0.4),
    (A, "Please never send card numbers here. The refund goes back to the original payment.", None),
    (C, "sorry. how long will it take", -0.3),
    (A, "A colleague normally replies within one working day.", None),
    (C, "This is the second time a parcel from you has gone missing this year.", -0.7),
    (A, "I understand, and I've noted that on the complaint.", None),
    (C, "Honestly I'm fed up, I've been a customer for years and I'm thinking of leaving.", -0.8),
    (A, "I'm passing you to a colleague now.", None),
    (C, "thanks", 0.1),
    (A, "You're welcome. A colleague will be with you shortly.", None),
]
FACTS = Facts(
    customer="Alice Example (C-10001), verified by code",
    channel="sms",
    identifiers={"order": "ORD-10042", "case": "CMP-7K3Q9"},
    wants="a refund",
    done=(
        "verified by code",
        "filed complaint CMP-7K3Q9 (delivery)",
        "refund for ORD-10042 sent to a person: over the automatic limit",
    ),
    category="delivery",
    trend="negative and worsening (-0.21, -0.55, -0.83)",
)


def utterances() -> list[Utterance]:
    return [Utterance(speaker, text, score) for speaker, text, score in CONVERSATION]
