// Every English sentence of the lobby (the seat grid, the seat pages, the seat cards, the kiosk
// shortcuts), in one place: a translation is another object of this shape. Templates get it as `it.lt`;
// what needs a value is a function.

export type SeatState = 'none' | 'opened' | 'ready';

export const lobbyEn = {
  title: (room: string) => `Lobby: ${room}`,
  intro: 'Each seat of this room has its own page. The grid shows which seats are taken and ready; it updates by itself.',
  seatsHeading: 'Seats',
  noSeats: 'This room has no participant labels yet, so there are no seats.',
  counts: (opened: number, ready: number, total: number) => `${ready} of ${total} ready, ${opened} opened and not ready yet`,
  state: { none: 'not opened', opened: 'opened', ready: 'ready' } satisfies Record<SeatState, string>,
  live: { connected: 'Live', reconnecting: 'Reconnecting…', noScript: 'Reload the page to see changes.' },

  seat: {
    title: (label: string) => `Seat ${label}`,
    welcome: 'Welcome',
    heading: (label: string) => `Seat ${label}`,
    room: (room: string) => `Room: ${room}`,
    instruction: 'Please click the button below when you are asked to.',
    ready: 'I am ready',
    already: 'You said you are ready. The button takes you to the experiment again.',
  },

  errors: {
    notFoundTitle: 'Not found',
    unknownInstance: (name: string) => `There is no lobby for "${name}". Check the address.`,
    unknownRoom: (room: string, name: string) => `"${name}" has no room called "${room}". Check the address.`,
    unknownLabel: (label: string, room: string) => `Room "${room}" has no seat called "${label}". Check the address, or ask the experimenter.`,
    offTitle: 'Lobby turned off',
    off: (name: string) => `The lobby of "${name}" is turned off. Ask the experimenter for the link to the experiment.`,
    notRunningTitle: 'Not running yet',
    notRunning: (name: string) => `The experiment server "${name}" is not running right now. Please wait a moment and try again, or tell the experimenter.`,
    tryAgain: 'Try again',
    limitedTitle: 'Too many requests',
    limited: (seconds: number) => `This computer has made too many requests to this lobby. Please wait ${seconds} second${seconds === 1 ? '' : 's'} and try again.`,
    tooManyStreams: 'Too many live views of the lobby are open from this computer; close some tabs and reload.',
    forbiddenTitle: 'Not allowed',
  },

  cards: {
    title: (room: string) => `Seat cards: ${room}`,
    intro: 'One card per seat, for the desks of the lab: the QR code and the address open the seat\'s page. Print on A4; the cards are cut along the lines.',
    print: 'Print this page with the browser (Ctrl+P; Cmd+P on a Mac).',
    card: (label: string) => `Seat ${label}`,
    qrAlt: (url: string) => `QR code of the seat page ${url}`,
    room: (room: string) => `Room ${room}`,
    noSeats: 'This room has no participant labels yet: add them to the room, then print the cards.',
    prepareHeading: 'Prepare the lab\'s computers',
    lobbyLink: 'The lobby of this room (public):',
    shortcuts: 'Kiosk shortcuts, one file per seat, that open the seat\'s page full screen:',
    windows: 'Windows (.bat: Chrome, else Edge)',
    macos: 'macOS (.command: Google Chrome)',
    linux: 'Linux (.sh: Chromium, else Google Chrome)',
    resetHeading: 'Before a session',
    resetWhat: 'Clears every seat of this room back to "not opened", so that the grid shows only who sits down for the next session.',
    resetButton: 'Reset the seats',
    resetDone: 'The seats are reset.',
  },

  shortcuts: {
    comment: (label: string, room: string, instance: string) => `otree-manager: opens seat ${label} of room ${room} (instance ${instance}) full screen (kiosk mode).`,
    closeHint: 'Close the kiosk window with Alt+F4 (Windows, Linux) or Cmd+Q (macOS).',
    noBrowser: 'Neither Chromium nor Google Chrome is installed; install one of them.',
    noChrome: 'Google Chrome is not installed; opening the seat in the default browser instead (without kiosk mode).',
  },
};

export type LobbyText = typeof lobbyEn;
