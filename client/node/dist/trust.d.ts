/** Why `dir` is not a private directory of `me`, or '' if it is. */
export declare function judgeDir(dir: string, stat: {
    isDirectory(): boolean;
    uid: number;
    mode: number;
}, me: number): string;
/** Why the socket file is not the person's agent's, or '' if it may be. */
export declare function judgeSocket(socket: string, stat: {
    isSocket(): boolean;
    uid: number;
}, me: number): string;
export type SocketCheck = {
    ok: true;
} | {
    ok: false;
    absent: boolean;
    refused: string;
};
/** May a client connect to `socket`? absent: nothing there (not a refusal). */
export declare function checkSocket(socket: string, me: number): SocketCheck;
/** Why the state dir may not hold the spool ('' if it may, or does not exist yet). */
export declare function stateDirProblem(stateDir: string, me: number): string;
