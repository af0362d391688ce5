/**
 * A straightforward implementation of the token flow `@edirect/dynamics` documents in its README,
 * written for the benchmark's comparison (the package itself is not on the public registry):
 *
 * - the first call gets a token with the password grant (`getAccessToken`) from the v1 token URL
 *   (`DYNAMICS_TOKEN_URL`, with `resource=DYNAMICS_RESOURCE`);
 * - every later call runs the refresh grant (`getRefreshToken`) before its request, falling back to
 *   the password grant when the refresh fails;
 * - requests go out with axios, as the package's `AxiosRequestConfig` options suggest.
 *
 * It has no single flight: concurrent first calls each see "no token yet" and each ask for one.
 */
import axios, { type AxiosInstance, type AxiosRequestConfig } from 'axios';

export interface EdirectEnv {
  DYNAMICS_TOKEN_URL: string;
  DYNAMICS_CLIENT_ID: string;
  DYNAMICS_CLIENT_SECRET: string;
  DYNAMICS_USER_NAME: string;
  DYNAMICS_PASSWORD: string;
  DYNAMICS_RESOURCE: string;
}

/** An Entra v1 token response. */
export interface EdirectTokenSet {
  token_type: string;
  access_token: string;
  refresh_token?: string;
  expires_in: string;
  expires_on?: string;
  resource?: string;
}

export class EdirectStyleDynamics {
  private tokenSet?: EdirectTokenSet;
  private readonly http: AxiosInstance;

  constructor(private readonly env: EdirectEnv, http: AxiosInstance = axios.create()) {
    this.http = http;
  }

  /** Password grant. */
  async getAccessToken(): Promise<EdirectTokenSet> {
    this.tokenSet = await this.tokenRequest({
      grant_type: 'password',
      client_id: this.env.DYNAMICS_CLIENT_ID,
      client_secret: this.env.DYNAMICS_CLIENT_SECRET,
      username: this.env.DYNAMICS_USER_NAME,
      password: this.env.DYNAMICS_PASSWORD,
      resource: this.env.DYNAMICS_RESOURCE,
    });
    return this.tokenSet;
  }

  /** Refresh grant with the last refresh token; the password grant when that fails. */
  async getRefreshToken(): Promise<EdirectTokenSet> {
    const refreshToken = this.tokenSet?.refresh_token;
    if (refreshToken === undefined) return this.getAccessToken();
    try {
      this.tokenSet = await this.tokenRequest({
        grant_type: 'refresh_token',
        client_id: this.env.DYNAMICS_CLIENT_ID,
        client_secret: this.env.DYNAMICS_CLIENT_SECRET,
        refresh_token: refreshToken,
        resource: this.env.DYNAMICS_RESOURCE,
      });
      return this.tokenSet;
    } catch {
      return this.getAccessToken();
    }
  }

  async get<T = unknown>(url: string, options: AxiosRequestConfig = {}): Promise<T> {
    return this.send<T>({ ...options, method: 'GET', url });
  }

  async post<T = unknown>(url: string, data: unknown, options: AxiosRequestConfig = {}): Promise<T> {
    return this.send<T>({ ...options, method: 'POST', url, data });
  }

  private async send<T>(config: AxiosRequestConfig): Promise<T> {
    const tokenSet = this.tokenSet === undefined ? await this.getAccessToken() : await this.getRefreshToken();
    const response = await this.http.request<T>({
      ...config,
      headers: { ...(config.headers as Record<string, string> | undefined), Authorization: `Bearer ${tokenSet.access_token}` },
    });
    return response.data;
  }

  private async tokenRequest(form: Record<string, string>): Promise<EdirectTokenSet> {
    const response = await this.http.post<EdirectTokenSet>(this.env.DYNAMICS_TOKEN_URL, new URLSearchParams(form).toString(), {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    return response.data;
  }
}
