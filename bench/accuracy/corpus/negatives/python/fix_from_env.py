import os
import quickfix as fix


class Application(fix.Application):
    def toAdmin(self, message, session_id):
        message.setField(fix.Username(os.environ["FIX_USERNAME"]))
        message.setField(fix.Password(os.environ["FIX_PASSWORD"]))
