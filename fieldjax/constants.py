"""Constants of the field-theoretic LM (the original's defaults).

All derive from the golden ratio PHI = (1 + sqrt 5) / 2.
"""

import math

PHI = (1.0 + math.sqrt(5.0)) / 2.0
GAP = 2.0 - PHI  # 0.381966...: the golden "gap" fraction of a full turn.
GOLDEN_ANGLE = 2.0 * math.pi * GAP  # 2.39996 rad: the golden angle.
HEBBIAN_RATE = 1.0 / PHI  # eta of the crystal update dW = eta <post (x) pre>.
COLLAPSE_THRESHOLD = 0.91  # Coherence at which the field is measured.
LEVY_ALPHA = PHI  # Stability index of the Levy-flight perturbations.
