"""Real-time keyboard control of trained policies (desktop viewer and browser page)."""
