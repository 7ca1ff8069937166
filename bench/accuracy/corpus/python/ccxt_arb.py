import ccxt

kraken = ccxt.kraken({
    "apiKey": "5nNTQzKbJpiQFFRaHd6Uydy5apvtzIxjU3MySaPKZuQSysekMv0EcGVo",
    "secret": "IOvUmmFCMI+Z2p7kaxMPibcGuzP5XXdlm3MVZGGnnvWMP0B4dO882ejc1q3blIrIlLYPrt1S9Yvl2xH9hKh2fw==",
})
binance = ccxt.binance({
    "apiKey": "5P6pp8ugkExrGBpPSWAtIwyN8kQu4xswLeiL6Gxd8sttdhCt0QqyQM8bFLnIkgdw",
    "secret": "wAHMTtlNyFYJWrYsk5xir4Mx5XPXhA27lc7m08QamSeNO7aCZkxR6K390slL0iGv",
    "options": {"defaultType": "spot"},
})
