"""Verifying who a customer is: one-time codes sent to the contact details on their record
(SMS or email), the dialogue that asks for them, and resuming what the customer asked."""
