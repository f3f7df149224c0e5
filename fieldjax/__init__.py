"""The field-theoretic LM (see issue 3); not implemented yet."""
