package com.qtrd.oms.fix;

import quickfix.Message;
import quickfix.SessionID;
import quickfix.field.MsgType;
import quickfix.field.Password;
import quickfix.field.Username;

public class FixSession extends quickfix.MessageCracker implements quickfix.Application {
    private static final int HEARTBEAT_SECONDS = 30;

    @Override
    public void toAdmin(Message message, SessionID sessionId) {
        try {
            if (MsgType.LOGON.equals(message.getHeader().getString(MsgType.FIELD))) {
                message.setField(new Username("qcqec911"));
                message.setField(new Password("bo6imD8G5t"));
            }
        } catch (quickfix.FieldNotFound e) {
            throw new IllegalStateException(e);
        }
    }
}
