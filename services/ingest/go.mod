module toptraffic/services/ingest

go 1.26
