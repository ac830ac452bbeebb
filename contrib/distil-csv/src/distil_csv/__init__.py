"""distil-contrib-csv: an example exporter plugin, CSV/TSV out and back in, provenance kept.

See contrib/README.md. Registered as ``csv.table.v1``; passes distil's ExporterConformance.
"""

from .table import COLUMNS, CsvExporter, TableRecord

__all__ = ["COLUMNS", "CsvExporter", "TableRecord"]
