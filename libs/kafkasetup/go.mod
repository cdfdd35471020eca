module toptraffic/libs/kafkasetup

go 1.26
