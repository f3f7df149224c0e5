"""The field-theoretic LM: a language model written as physics, trained with no backprop.

See docs/fieldjax.md for the equations, one section per module.
"""
