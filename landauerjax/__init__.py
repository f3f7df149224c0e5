"""The Landauer LLM: a character-level RNN that rotates its hidden state in phase space."""
