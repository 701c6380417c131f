"""Reference data: reading CMS files (layouts, importers) into the compiled store.

``layouts`` recognises a file and its edition, ``importers`` reads it into table
rows and writes them, ``store`` holds the SQLite store and its TableSet.
"""
