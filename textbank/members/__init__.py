"""Members: reading spreadsheet exports, field normalisation, phone numbers, import, lookups."""
