module toptraffic/libs/httpserver

go 1.26
