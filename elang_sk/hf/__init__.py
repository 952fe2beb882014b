"""torch and transformers: the only subpackage that imports them at module level."""
