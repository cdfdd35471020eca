module toptraffic/services/devbroker

go 1.26
