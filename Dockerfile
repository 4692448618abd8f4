FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOST=0.0.0.0 PORT=8000 APP_ENV=production
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY webhook webhook
COPY worker worker
COPY handlers handlers
RUN pip install --no-cache-dir . && useradd --system --no-create-home plantao
USER plantao
EXPOSE 8000
# One image, three roles: RUN_MODE=api|worker|scheduler picks the role.
CMD ["plantao", "serve"]
