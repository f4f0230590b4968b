"""Worker processes supervised by the control process (speech in, speech out, vision, diagnostics)."""
