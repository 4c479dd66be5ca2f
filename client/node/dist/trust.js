"use strict";
// The checks before a byte is sent or written (docs/protocol.md §3, issue 17 item 1): the socket's
// directory and the state dir must be the person's and writable by no one else; the socket must be
// a socket the person owns. Node has no SO_PEERCRED, so the socket file's owner stands in for the
// peer's uid: in a directory only the person can write, only the person's processes (or root) can
// have created it. The judges are pure; the lookups are one stat each.
Object.defineProperty(exports, "__esModule", { value: true });
exports.judgeDir = judgeDir;
exports.judgeSocket = judgeSocket;
exports.checkSocket = checkSocket;
exports.stateDirProblem = stateDirProblem;
const fs = require("fs");
const path = require("path");
function octal(mode) {
    return (mode & 0o7777).toString(8).padStart(4, '0');
}
/** Why `dir` is not a private directory of `me`, or '' if it is. */
function judgeDir(dir, stat, me) {
    if (!stat.isDirectory())
        return `${dir} is not a directory`;
    if (stat.uid !== me)
        return `the directory ${dir} belongs to user ${stat.uid}, not you (user ${me})`;
    if ((stat.mode & 0o022) !== 0)
        return `the directory ${dir} can be written by other users (mode ${octal(stat.mode)})`;
    return '';
}
/** Why the socket file is not the person's agent's, or '' if it may be. */
function judgeSocket(socket, stat, me) {
    if (!stat.isSocket())
        return `${socket} is not a socket`;
    if (stat.uid !== me) {
        return `the socket at ${socket} belongs to user ${stat.uid}, not you (user ${me}); telemetry-kit did not send anything to it`;
    }
    return '';
}
/** May a client connect to `socket`? absent: nothing there (not a refusal). */
function checkSocket(socket, me) {
    const dir = path.dirname(socket);
    const dirStat = fs.statSync(dir, { throwIfNoEntry: false });
    if (dirStat === undefined)
        return { ok: false, absent: true, refused: '' };
    const why = judgeDir(dir, dirStat, me);
    if (why !== '')
        return { ok: false, absent: false, refused: `${why}; telemetry-kit did not connect to the socket ${socket} in it` };
    const socketStat = fs.lstatSync(socket, { throwIfNoEntry: false });
    if (socketStat === undefined)
        return { ok: false, absent: true, refused: '' };
    const refused = judgeSocket(socket, socketStat, me);
    return refused === '' ? { ok: true } : { ok: false, absent: false, refused };
}
/** Why the state dir may not hold the spool ('' if it may, or does not exist yet). */
function stateDirProblem(stateDir, me) {
    const stat = fs.statSync(stateDir, { throwIfNoEntry: false });
    return stat === undefined ? '' : judgeDir(stateDir, stat, me);
}
