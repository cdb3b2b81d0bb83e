-- The schema PixelForge 0.1 made with db.create_all() on postgresql, before migrations existed.
-- Frozen: tests/test_migrations.py builds a database of that release from it. Never edit.
CREATE TABLE users (
	id SERIAL NOT NULL,
	email VARCHAR(254) NOT NULL,
	password_hash VARCHAR(256),
	plan VARCHAR(32) NOT NULL,
	credits BIGINT NOT NULL,
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ix_users_email ON users (email);

CREATE TABLE api_keys (
	id SERIAL NOT NULL,
	user_id INTEGER NOT NULL,
	name VARCHAR(100) NOT NULL,
	prefix VARCHAR(32) NOT NULL,
	key_hash VARCHAR(64) NOT NULL,
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	last_used_at TIMESTAMP WITHOUT TIME ZONE,
	revoked_at TIMESTAMP WITHOUT TIME ZONE,
	PRIMARY KEY (id),
	FOREIGN KEY(user_id) REFERENCES users (id)
);

CREATE UNIQUE INDEX ix_api_keys_prefix ON api_keys (prefix);

CREATE INDEX ix_api_keys_user_id ON api_keys (user_id);

CREATE TABLE jobs (
	id VARCHAR(36) NOT NULL,
	user_id INTEGER NOT NULL,
	operation VARCHAR(32) NOT NULL,
	params JSON NOT NULL,
	status VARCHAR(16) NOT NULL,
	credits INTEGER NOT NULL,
	refunded BOOLEAN NOT NULL,
	progress FLOAT NOT NULL,
	engine VARCHAR(16),
	model VARCHAR(64),
	info JSON,
	input_key VARCHAR(200) NOT NULL,
	mask_key VARCHAR(200),
	result_key VARCHAR(200),
	result_type VARCHAR(32),
	input_width INTEGER,
	input_height INTEGER,
	error_code VARCHAR(64),
	error_message TEXT,
	worker_name VARCHAR(128),
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	started_at TIMESTAMP WITHOUT TIME ZONE,
	finished_at TIMESTAMP WITHOUT TIME ZONE,
	heartbeat_at TIMESTAMP WITHOUT TIME ZONE,
	expired_at TIMESTAMP WITHOUT TIME ZONE,
	PRIMARY KEY (id),
	FOREIGN KEY(user_id) REFERENCES users (id)
);

CREATE INDEX ix_jobs_user_created ON jobs (user_id, created_at);

CREATE INDEX ix_jobs_status_created ON jobs (status, created_at);

CREATE TABLE idempotency_records (
	id SERIAL NOT NULL,
	user_id INTEGER NOT NULL,
	key VARCHAR(255) NOT NULL,
	fingerprint VARCHAR(64) NOT NULL,
	status_code INTEGER,
	body JSON,
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_idempotency_user_key UNIQUE (user_id, key),
	FOREIGN KEY(user_id) REFERENCES users (id)
);

CREATE INDEX ix_idempotency_records_created_at ON idempotency_records (created_at);

CREATE TABLE credit_entries (
	id SERIAL NOT NULL,
	user_id INTEGER NOT NULL,
	job_id VARCHAR(36),
	delta INTEGER NOT NULL,
	reason VARCHAR(32) NOT NULL,
	note VARCHAR(200),
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(user_id) REFERENCES users (id),
	FOREIGN KEY(job_id) REFERENCES jobs (id)
);

CREATE INDEX ix_credit_entries_user_id ON credit_entries (user_id);

CREATE INDEX ix_credit_entries_job_id ON credit_entries (job_id);
