import quickfix as fix


class Application(fix.Application):
    def toAdmin(self, message, session_id):
        if message.getHeader().getField(fix.MsgType()).getString() == fix.MsgType_Logon:
            message.setField(fix.Username("bjtri799"))
            message.setField(fix.Password("uDr5SOWDWL"))

    def fromApp(self, message, session_id):
        print("app", message.toString().replace("\x01", "|"))
