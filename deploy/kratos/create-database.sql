-- Kratos keeps its own database beside tutorhub's in the same PostgreSQL server.
-- Run once by the postgres image on an empty data volume (docker-compose.yml);
-- deploy/local/up.sh creates the same database natively.
CREATE DATABASE kratos;
