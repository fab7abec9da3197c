"""Validation rule identifiers and what each means.

They are part of the data model: every quarantined row names one, and docs/data-model.md lists
them. ``esmonitor.ingest.rules`` builds the checks that raise them.
"""

from __future__ import annotations

from esmonitor.model.entities import EARLIEST_DATE, LATEST_DATE

RULES: dict[str, str] = {
    "malformed_row": "a CSV line that does not parse (too many or too few fields, an unclosed quote); "
                     "reading starts again at the next line",
    "cell_too_long": "a cell longer than the cap (1 MiB of characters unless the column map's cell_cap says "
                     "otherwise)",
    "missing_column": "a required column is absent from the file",
    "control_character": "a text value (an id, say) holds a NUL or another control character",
    "missing_value": "a required value is blank",
    "invalid_date": "not a date (accepted: YYYY-MM-DD, YYYY/MM/DD, with optional time)",
    "invalid_number": "not a number (accepted: 1234.5, 1,234.50, 15,50, $17.20)",
    "unknown_code": "not one of the field's codes",
    "invalid_format": "does not have the required format",
    "out_of_range": "number outside the allowed range",
    "date_out_of_range": f"date before {EARLIEST_DATE} or after {LATEST_DATE}",
    "date_order": "date earlier than the date it must follow",
    "orphan_reference": "refers to a record that is not in the warehouse",
    "duplicate_row": "exact repeat of an earlier row of the same file",
    "duplicate_key": "same key as an earlier row of the same file, with other values",
}
