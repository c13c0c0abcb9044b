"""Self-service for verified customers: orders and tracking, balances and transactions,
receipts and refunds, answered from the company's business systems."""
