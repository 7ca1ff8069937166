"""Where bytes come from. Every source yields ``Blob`` values (or work items that become blobs)."""
