// Boots the README example as a Nest application context and prints what each call returned, as JSON.
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { DynamicsError } from 'dynamics-odata';
import { AccountsService, AppModule } from './readme-migration.example';

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const accounts = app.get(AccountsService);
  const created = (await accounts.create("O'Brien & Sons")) as { id: string; entityId: string };
  const found = await accounts.find("O'Brien & Sons");
  const renamed = await accounts.rename(created.id, 'Renamed');
  const removed = await accounts.remove(created.id);
  const missing = await accounts.rename(created.id, 'Gone').catch((err: unknown) => ({
    isDynamicsError: err instanceof DynamicsError,
    status: (err as DynamicsError).response?.status,
    hasData: (err as DynamicsError).response?.data !== undefined,
  }));
  const token = await accounts.token();
  await app.close();
  process.stdout.write(JSON.stringify({ created, found, renamed, removed, missing, tokenType: token?.token_type }));
}

main().catch((err: unknown) => {
  process.stderr.write(String((err as Error)?.stack ?? err));
  process.exit(1);
});
