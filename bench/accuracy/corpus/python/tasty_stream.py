import asyncio
from tastytrade import DXLinkStreamer, Session
from tastytrade.dxfeed import Quote

session = Session("6c10f04deb7e871518844c9f98de24e4af614e50", "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAidXdmZzZ6dnh3a2ciLCAiaWF0IjogMTc2NzIzMzg4OX0.XYHDrZLAHfEG1SP5Rg_Qr6nqCCED1udlOj08k2pw9h0")


async def main() -> None:
    async with DXLinkStreamer(session) as streamer:
        await streamer.subscribe(Quote, ["SPY", "/ES:XCME"])
        print(await streamer.get_event(Quote))

asyncio.run(main())
