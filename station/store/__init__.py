"""The central store: the agency's locked S3 bucket (Ceph RGW, Object Lock) the station pushes to."""
