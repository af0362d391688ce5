// The README's migration example ("after"), compiled by test/loopback/nest-migration.test.ts with a
// Nest application's usual tsconfig (emitDecoratorMetadata, no explicit @Inject) against the built
// package, then run against the emulator. Keep it identical to the README.
import { Injectable, Module } from '@nestjs/common';
import { DynamicsModule, DynamicsService } from 'dynamics-odata'; // was: from '@edirect/dynamics'

@Injectable()
export class AccountsService {
  constructor(private readonly dynamicsService: DynamicsService) {}

  /** A 204 create resolves to { id, entityId } (from the OData-EntityId header). */
  create(name: string) {
    return this.dynamicsService.post(`${process.env.DYNAMICS_RESOURCE}/api/data/v9.2/accounts`, { name });
  }

  /** A path relative to DYNAMICS_RESOURCE works too; options is an AxiosRequestConfig. */
  find(name: string) {
    return this.dynamicsService.get('/api/data/v9.2/accounts', {
      params: { $select: 'name', $filter: `name eq '${name.replace(/'/g, "''")}'` },
    });
  }

  rename(id: string, name: string) {
    return this.dynamicsService.patch(`/api/data/v9.2/accounts(${id})`, { name }, { headers: { 'If-Match': '*' } });
  }

  remove(id: string) {
    return this.dynamicsService.delete(`/api/data/v9.2/accounts(${id})`, undefined, 'client_credentials');
  }

  token() {
    return this.dynamicsService.getAccessToken();
  }
}

@Module({ imports: [DynamicsModule], providers: [AccountsService] })
export class AppModule {}
