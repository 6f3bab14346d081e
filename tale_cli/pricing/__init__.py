"""Price books and what one item costs: dated books (book), their entries (prices), money arithmetic (money), and the
price of a clip, an image, speech, a score or a judge's tokens (rates). Backends price what they bill with these;
tale_cli.cost builds estimates, the budget guard, the ledger and the source document's comparison on them."""
