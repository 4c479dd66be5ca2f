import type { Env } from './environment';
export interface Paths {
    socket: string;
    stateDir: string;
    spool: string;
}
/** Bytes in sockaddr_un.sun_path, the terminating NUL included. */
export declare function maxSocketPathBytes(platform: string): number;
export declare function resolvePaths(env: Env, uid: number, home: string, platform?: string): Paths;
/** The socket and state dir for this environment and the effective user. */
export declare function pathsFor(env: Env): Paths;
