module toptraffic/libs/window

go 1.26
