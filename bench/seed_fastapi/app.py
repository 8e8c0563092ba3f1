"""The seed's send-otp and verify-otp as its design describes them (a FastAPI app,
SQLAlchemy's async ORM on PostgreSQL, the code emailed), written only to be
measured against: bench/seed_fastapi.sh runs it beside the service.

send-otp: an existing inactive account gets a code in `otps`; a new address gets
(or has replaced) its row in `signup_otps`; the code is emailed after the answer
(a background task, one SMTP connection per email). verify-otp: `signup_otps`
first (mark verified, delete), then `otps` (activate the account, delete);
otherwise 400 "Invalid OTP". No attempt limits, no hashing: the seed has neither.

Settings (environment): DATABASE_URL (postgresql+asyncpg://...), SMTP_HOST,
SMTP_PORT, FIXED_CODE (every code is this one, so that a load generator knows it),
SEND_EMAIL (0: keep the code, send nothing; the seed's stack without its email).
"""
import logging
import os
import secrets
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Literal

import aiosmtplib
from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException
from pydantic import BaseModel, EmailStr
from sqlalchemy import (Boolean, Column, DateTime, ForeignKey, Integer, String,
                        UniqueConstraint, delete, func, select)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import declarative_base

logger = logging.getLogger("app")
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

engine = create_async_engine(os.environ["DATABASE_URL"], pool_size=10, max_overflow=10)
Session = async_sessionmaker(engine, expire_on_commit=False)
Base = declarative_base()
OTP_MINUTES = 10


class User(Base):
    __tablename__ = "users"
    id = Column(Integer, primary_key=True, index=True)
    email = Column(String(255), unique=True, nullable=False)
    hashed_password = Column(String(255), nullable=False, default="")
    user_type = Column(String(20), nullable=False, default="live")
    is_active = Column(Boolean, nullable=False, default=False)
    created_at = Column(DateTime, server_default=func.now(), nullable=False)
    updated_at = Column(DateTime, server_default=func.now(), nullable=False)


class DemoUser(Base):
    __tablename__ = "demo_users"
    id = Column(Integer, primary_key=True, index=True)
    email = Column(String(255), unique=True, nullable=False)
    hashed_password = Column(String(255), nullable=False, default="")
    is_active = Column(Boolean, nullable=False, default=False)
    created_at = Column(DateTime, server_default=func.now(), nullable=False)
    updated_at = Column(DateTime, server_default=func.now(), nullable=False)


class SignupOTP(Base):
    __tablename__ = "signup_otps"
    id = Column(Integer, primary_key=True, index=True)
    email = Column(String(255), index=True, nullable=False)
    user_type = Column(String(20), nullable=False)
    otp_code = Column(String(10), nullable=False)
    created_at = Column(DateTime, server_default=func.now(), nullable=False)
    expires_at = Column(DateTime, nullable=False)
    is_verified = Column(Boolean, default=False, nullable=False)
    verified_at = Column(DateTime, nullable=True)
    user_id = Column(Integer, ForeignKey("users.id"), index=True, nullable=True)
    demo_user_id = Column(Integer, ForeignKey("demo_users.id"), index=True, nullable=True)
    __table_args__ = (UniqueConstraint("email", "user_type", name="_signup_otp_email_user_type_uc"),)


class OTP(Base):
    __tablename__ = "otps"
    id = Column(Integer, primary_key=True, index=True)
    user_id = Column(Integer, ForeignKey("users.id"), index=True, nullable=True)
    demo_user_id = Column(Integer, ForeignKey("demo_users.id"), index=True, nullable=True)
    otp_code = Column(String(10), nullable=False)
    created_at = Column(DateTime, server_default=func.now(), nullable=False)
    expires_at = Column(DateTime, nullable=False)


class SendOTP(BaseModel):
    email: EmailStr
    user_type: Literal["live", "demo"]


class VerifyOTP(SendOTP):
    otp_code: str


async def get_db():
    async with Session() as session:
        yield session


def new_code() -> str:
    return os.environ.get("FIXED_CODE") or f"{secrets.randbelow(1_000_000):06d}"


async def send_email(to: str, code: str) -> None:
    message = EmailMessage()
    message["From"] = "no-reply@example.com"
    message["To"] = to
    message["Subject"] = "Your verification code"
    message.set_content(f"Your verification code is {code}. It expires in {OTP_MINUTES} minutes.")
    try:
        await aiosmtplib.send(message, hostname=os.environ.get("SMTP_HOST", "127.0.0.1"),
                              port=int(os.environ.get("SMTP_PORT", "25")))
    except Exception:
        logger.exception("email to %s failed", to)


async def find_account(db: AsyncSession, email: str, user_type: str):
    model = User if user_type == "live" else DemoUser
    return (await db.execute(select(model).where(model.email == email))).scalar_one_or_none()


app = FastAPI()


@app.post("/api/v1/users/signup/send-otp")
async def send_otp(body: SendOTP, background: BackgroundTasks, db: AsyncSession = Depends(get_db)):
    email, user_type = body.email.lower(), body.user_type
    code = new_code()
    expires_at = datetime.utcnow() + timedelta(minutes=OTP_MINUTES)
    account = await find_account(db, email, user_type)
    if account is not None:
        if account.is_active:
            raise HTTPException(status_code=400, detail="User already exists")
        column = OTP.user_id if user_type == "live" else OTP.demo_user_id
        await db.execute(delete(OTP).where(column == account.id))
        db.add(OTP(otp_code=code, expires_at=expires_at,
                   **({"user_id": account.id} if user_type == "live" else {"demo_user_id": account.id})))
    else:
        otp = (await db.execute(select(SignupOTP).where(
            SignupOTP.email == email, SignupOTP.user_type == user_type))).scalar_one_or_none()
        if otp is None:
            db.add(SignupOTP(email=email, user_type=user_type, otp_code=code, expires_at=expires_at))
        else:
            otp.otp_code, otp.expires_at = code, expires_at
            otp.created_at, otp.is_verified, otp.verified_at = datetime.utcnow(), False, None
    await db.commit()
    logger.info("SIGNUP_OTP_CREATED email=%s user_type=%s", email, user_type)
    if os.environ.get("SEND_EMAIL", "1") != "0":
        background.add_task(send_email, email, code)
    return {"message": "OTP sent successfully"}


@app.post("/api/v1/users/signup/verify-otp")
async def verify_otp(body: VerifyOTP, db: AsyncSession = Depends(get_db)):
    email, user_type = body.email.lower(), body.user_type
    now = datetime.utcnow()
    otp = (await db.execute(select(SignupOTP).where(
        SignupOTP.email == email, SignupOTP.user_type == user_type,
        SignupOTP.otp_code == body.otp_code, SignupOTP.is_verified.is_(False),
        SignupOTP.expires_at > now))).scalar_one_or_none()
    if otp is not None:
        otp.is_verified, otp.verified_at = True, now
        await db.flush()
        await db.delete(otp)
        await db.commit()
        logger.info("SIGNUP_OTP_VERIFIED email=%s user_type=%s", email, user_type)
        return {"message": "OTP verified successfully"}
    account = await find_account(db, email, user_type)
    if account is not None:
        column = OTP.user_id if user_type == "live" else OTP.demo_user_id
        otp = (await db.execute(select(OTP).where(
            column == account.id, OTP.otp_code == body.otp_code, OTP.expires_at > now))).scalar_one_or_none()
        if otp is not None:
            account.is_active = True
            await db.delete(otp)
            await db.commit()
            logger.info("SIGNUP_OTP_VERIFIED email=%s user_type=%s", email, user_type)
            return {"message": "OTP verified successfully"}
    logger.info("SIGNUP_OTP_VERIFICATION_FAILED email=%s user_type=%s", email, user_type)
    raise HTTPException(status_code=400, detail="Invalid OTP")


async def create_tables() -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


if __name__ == "__main__":
    import asyncio
    asyncio.run(create_tables())
