"""Physical and mathematical constants of the Landauer LLM."""

import math

PHI = (1.0 + math.sqrt(5.0)) / 2.0  # Golden ratio.
GOLDEN_ANGLE = 2.39996322972865332  # Radians: 2*pi*(2 - PHI) = pi*(3 - sqrt(5)).
LN_PHI = math.log(PHI)  # The "Landauer" factor of the inertia penalty.
