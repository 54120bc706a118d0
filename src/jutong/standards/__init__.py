"""Pure validators of national codes (no database): see ``codes``."""

from jutong.standards.codes import VALIDATOR_NAMES, VALIDATORS

__all__ = ["VALIDATORS", "VALIDATOR_NAMES"]
