"""Balances and recent transactions of a verified customer's store-credit accounts."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.self_service.registry import SensitiveAction, Verified
from bot.business.records import Account, Transaction

RECENT_TRANSACTIONS = 5


def masked(number: str) -> str:
    """An account number as shown: only its last four digits (in words every channel can
    show: SMS has no "•")."""
    return f"account ending {number[-4:]}"


def balance_line(account: Account) -> str:
    """ "Store credit (account ending 4821): £42.10"."""
    return f"Store credit ({masked(account.number)}): {account.balance.formatted()}"


def transaction_line(transaction: Transaction) -> str:
    """ "12 Nov: Refund for ORD-100001, +£19.99"."""
    amount = transaction.amount.formatted()
    sign = "+" if transaction.amount.minor > 0 else ""
    return f"{transaction.at:%d %b}: {transaction.description}, {sign}{amount}"


class ActionCheckBalance(SensitiveAction):
    """The balance of each of the customer's accounts."""

    intent = "check_balance"
    action_name = "action_check_balance"

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
    ) -> list[EventType]:
        accounts = await verified.backend.accounts(verified.customer_ref)
        if not accounts:
            dispatcher.utter_message(response="utter_no_accounts")
            return []
        lines = "\n".join(balance_line(a) for a in accounts)
        dispatcher.utter_message(response="utter_balance", balances=lines)
        return []


class ActionRecentTransactions(SensitiveAction):
    """The latest transactions of the customer's accounts."""

    intent = "recent_transactions"
    action_name = "action_recent_transactions"

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
    ) -> list[EventType]:
        accounts = await verified.backend.accounts(verified.customer_ref)
        found: list[Transaction] = []
        for account in accounts:
            found += await verified.backend.transactions(account.ref, limit=RECENT_TRANSACTIONS)
        if not found:
            dispatcher.utter_message(response="utter_no_transactions")
            return []
        found.sort(key=lambda t: t.at, reverse=True)
        lines = "\n".join(transaction_line(t) for t in found[:RECENT_TRANSACTIONS])
        dispatcher.utter_message(response="utter_transactions", transactions=lines)
        return []
