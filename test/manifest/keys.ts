// Public keys for tests (generated with ssh-keygen; the private halves were discarded).
export const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGEaT4vt3NAcu8+ICLYtT0vOxl5v7beL6875muzZG4N6 alice@lab-laptop';
export const RSA_1024 = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCq/0PWukFcSBAhYiY80W8uJITSWpMcT9SVebu8Rkf10RfkaZ7O0K6436e/wZMqBZ0V1Mks71LjgmaJjnYwLUFNo78vOoxJb8nrahFu0+i89S2A7isUJZEVrYL0Y+uO5DoqZG3k3nECf+hWG3lgrl+udGIz5jkliI7vcd4c2JLwBw== weak';
export const ECDSA_384 = 'ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBEDbXlgDRPvur7onLB/qRHynaoupNwSpGkniSlJN6WS2HgXgGqZPQm76/SmYTJ+pwa8XZ/1TOI41zcwZ8Rjt0EBEMhamMVo11CpEvYAaHasgW/bVNV/ec0W87ZYD4aqbNw== bob@lab';
