// The line the daemon process prints once its start-up is done (shared by the process and its harness).
export const STARTED_LINE = 'otm-test-daemon: started';
