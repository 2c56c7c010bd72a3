"""The shared vocabulary every stage uses: records, diagnostics, units, suggestions."""
