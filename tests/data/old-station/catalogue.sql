BEGIN TRANSACTION;
CREATE TABLE audit_footage (
	seq BIGINT NOT NULL, 
	session VARCHAR(128) NOT NULL, 
	PRIMARY KEY (seq, session), 
	FOREIGN KEY(seq) REFERENCES audit_trail (seq)
);
INSERT INTO "audit_footage" VALUES(6,'20261206T193451Z-BC00001-e6a0d8');
INSERT INTO "audit_footage" VALUES(7,'20261206T193451Z-BC00001-e6a0d8');
INSERT INTO "audit_footage" VALUES(8,'20261206T193451Z-BC00001-e6a0d8');
CREATE TABLE audit_trail (
	seq BIGINT NOT NULL, 
	body TEXT NOT NULL, 
	public_key VARCHAR(64) NOT NULL, 
	signature VARCHAR(128) NOT NULL, 
	PRIMARY KEY (seq)
);
INSERT INTO "audit_trail" VALUES(1,'{"action":"user-add","actor":null,"detail":{"full_name":"管理员","role":"administrator","user":"admin"},"footage":[],"format":"bodycam-audit/1","key_id":"e35399fecbe071ee","outcome":"done","prev":"0000000000000000000000000000000000000000000000000000000000000000","reason":null,"role":null,"seq":1,"source":"fixture","time_ns":1796585692885073956}','13c2a623ab39f06600601b5045f236f50d4ecf6a890bc2f4ac75d9b8df6d8a29','277ff82db315e02c0af4e2a178328c656e9b20a34d426c25402bfb3e31232bf1005c7b81f616ba27d07b15008ef39afe5141544944f53d002b1778ca6a3a6800');
INSERT INTO "audit_trail" VALUES(2,'{"action":"user-add","actor":"admin","detail":{"full_name":"李四","role":"reviewer","user":"rev"},"footage":[],"format":"bodycam-audit/1","key_id":"e35399fecbe071ee","outcome":"done","prev":"d0a35bbcb97bb8d3590746222e30dce64f1eb6754494e490bf125cbb4c8cbc69","reason":null,"role":"administrator","seq":2,"source":"fixture","time_ns":1796585693005312911}','13c2a623ab39f06600601b5045f236f50d4ecf6a890bc2f4ac75d9b8df6d8a29','48fee16d712134c15ddf6423f855c5c640e0937052f15b310a4b2dd62b7ef755d5795afd2ac0464db6c9625e31623e37013e232038e82530b57436826b6b4c0f');
INSERT INTO "audit_trail" VALUES(3,'{"action":"user-add","actor":"admin","detail":{"full_name":"王五","role":"supervisor","user":"sup"},"footage":[],"format":"bodycam-audit/1","key_id":"e35399fecbe071ee","outcome":"done","prev":"428260e8e6faf5afa93264d431153d0962b6719519f3e3cccd6967c0ca0a6648","reason":null,"role":"administrator","seq":3,"source":"fixture","time_ns":1796585693113562059}','13c2a623ab39f06600601b5045f236f50d4ecf6a890bc2f4ac75d9b8df6d8a29','d66fad1867690d4b2b310e9e0171685de2a711cdc99e3d084f2b586f158133c8f957117d1e07ae7b8d11ff324ef42258cb5cb2d5d44b583838c32dc585e9490a');
INSERT INTO "audit_trail" VALUES(4,'{"action":"user-add","actor":"admin","detail":{"full_name":"钱八","role":"custodian","user":"cus"},"footage":[],"format":"bodycam-audit/1","key_id":"e35399fecbe071ee","outcome":"done","prev":"13cc800b9c6ca2f49e5eef5ada103f25310af925124278aa1cafc0a7c86c0656","reason":null,"role":"administrator","seq":4,"source":"fixture","time_ns":1796585693228330758}','13c2a623ab39f06600601b5045f236f50d4ecf6a890bc2f4ac75d9b8df6d8a29','337c4a57a233d722bc4e676f52190f89a297b75707ec19bfaaaf92e1ef0a2617e19e84a57e1124fba01852913d4a1b112b4faf0fe4b105db7c18b77f77ecd107');
INSERT INTO "audit_trail" VALUES(5,'{"action":"case-opened","actor":"sup","detail":{"case":"2026-0042","name":"卡车事故","party":"交警大队"},"footage":[],"format":"bodycam-audit/1","key_id":"e35399fecbe071ee","outcome":"done","prev":"e02d24859bb163580df0a86855ed00400b492ffd2dab8bfd9b79ef4842710d79","reason":null,"role":"supervisor","seq":5,"source":"fixture","time_ns":1796585693468211395}','13c2a623ab39f06600601b5045f236f50d4ecf6a890bc2f4ac75d9b8df6d8a29','be4974e77520ca9225f6d00df3c00fea5537ef311a220349f0edebcb11b23bcf4977c5436728fbd98b14669c65be774a0989caa82387ee555c4770fdde94710b');
INSERT INTO "audit_trail" VALUES(6,'{"action":"case-linked","actor":"sup","detail":{"case":"2026-0042","from_ns":null,"session":"20261206T193451Z-BC00001-e6a0d8","until_ns":null},"footage":["20261206T193451Z-BC00001-e6a0d8"],"format":"bodycam-audit/1","key_id":"e35399fecbe071ee","outcome":"done","prev":"e9caef6ce8fda2d602cb3dee9e12db25329097d8dd43068a216bf96dc82969da","reason":null,"role":"supervisor","seq":6,"source":"fixture","time_ns":1796585693472347668}','13c2a623ab39f06600601b5045f236f50d4ecf6a890bc2f4ac75d9b8df6d8a29','f92e84aa484295bd435dfa04b1a42bcd5e26d9a4aab91e10332d79e6c3d05c74e61f131771b429d7c96dc6110610e1344c0bb626a6a4ee6aa1b7e9909ddc1a03');
INSERT INTO "audit_trail" VALUES(7,'{"action":"hold-placed","actor":"sup","detail":{"case":null,"hold":1,"reason":"pending court date","session":"20261206T193451Z-BC00001-e6a0d8"},"footage":["20261206T193451Z-BC00001-e6a0d8"],"format":"bodycam-audit/1","key_id":"e35399fecbe071ee","outcome":"done","prev":"1798efaf794540f0ff786eb2247ee43e275d360ed424b9132a8a55feee5d91f4","reason":"pending court date","role":"supervisor","seq":7,"source":"fixture","time_ns":1796585693475536161}','13c2a623ab39f06600601b5045f236f50d4ecf6a890bc2f4ac75d9b8df6d8a29','cb9461118dc0230e1cd9b88c0912fe3f5d9fcf7baea3a55614f8b9c20262f7e2dca461fa0df9ebbb5fa29960d18b2d7b81a1d210afbfed40f7d5dab034f98105');
INSERT INTO "audit_trail" VALUES(8,'{"action":"export-request","actor":"rev","detail":{"destination":"the court","end_ns":null,"recipient":"cus","request":1,"scope":"session","start_ns":null,"target":"20261206T193451Z-BC00001-e6a0d8"},"footage":["20261206T193451Z-BC00001-e6a0d8"],"format":"bodycam-audit/1","key_id":"e35399fecbe071ee","outcome":"done","prev":"e3772b3481ed0703e6ba90a09af9f9088450c510cf495f9b0b63b1bc6442d9d5","reason":"court asked for it","role":"reviewer","seq":8,"source":"fixture","time_ns":1796585693480080662}','13c2a623ab39f06600601b5045f236f50d4ecf6a890bc2f4ac75d9b8df6d8a29','0d80dc46184286dfdeaefe394908e4c0580c04fcb9b671a4ecd8ec5a9ac1696ef97556806459584c9fd1964cb8e5a8823e27c0b4d96e860d7ae851415e4c2a0b');
CREATE TABLE case_links (
	id INTEGER NOT NULL, 
	case_number VARCHAR(64) NOT NULL, 
	session VARCHAR(128) NOT NULL, 
	from_ns BIGINT, 
	until_ns BIGINT, 
	linked_by VARCHAR(64) NOT NULL, 
	linked_ns BIGINT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(case_number) REFERENCES cases (number), 
	FOREIGN KEY(session) REFERENCES sessions (session)
);
INSERT INTO "case_links" VALUES(1,'2026-0042','20261206T193451Z-BC00001-e6a0d8',NULL,NULL,'sup',1796585693470512249);
CREATE TABLE cases (
	number VARCHAR(64) NOT NULL, 
	name TEXT NOT NULL, 
	party TEXT NOT NULL, 
	opened_ns BIGINT NOT NULL, 
	opened_by VARCHAR(64) NOT NULL, 
	closed_ns BIGINT, 
	closed_by VARCHAR(64), 
	PRIMARY KEY (number)
);
INSERT INTO "cases" VALUES('2026-0042','卡车事故','交警大队',1796585693466514904,'sup',NULL,NULL);
CREATE TABLE confidential_sessions (
	session VARCHAR(128) NOT NULL, 
	level VARCHAR(32) NOT NULL, 
	reason TEXT NOT NULL, 
	marked_by VARCHAR(64) NOT NULL, 
	marked_ns BIGINT NOT NULL, 
	PRIMARY KEY (session)
);
CREATE TABLE dockings (
	id INTEGER NOT NULL, 
	station VARCHAR(16) NOT NULL, 
	key_id VARCHAR(16) NOT NULL, 
	docked_ns BIGINT NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "dockings" VALUES(1,'e35399fecbe071ee','969410cf014b5429',1796585692633679639);
CREATE TABLE export_requests (
	id INTEGER NOT NULL, 
	scope VARCHAR(16) NOT NULL, 
	target VARCHAR(128) NOT NULL, 
	start_ns BIGINT, 
	end_ns BIGINT, 
	sessions TEXT NOT NULL, 
	reason TEXT NOT NULL, 
	destination TEXT NOT NULL, 
	place TEXT, 
	requester VARCHAR(64) NOT NULL, 
	recipient VARCHAR(64) NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	requested_ns BIGINT NOT NULL, 
	decided_by VARCHAR(64), 
	decided_ns BIGINT, 
	decision_note TEXT, 
	made_ns BIGINT, 
	package TEXT, 
	taken_by TEXT, 
	taken_ns BIGINT, 
	handed_by VARCHAR(64), 
	audit_seqs TEXT NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "export_requests" VALUES(1,'session','20261206T193451Z-BC00001-e6a0d8',NULL,NULL,'20261206T193451Z-BC00001-e6a0d8','court asked for it','the court',NULL,'rev','cus','requested',1796585693478393015,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'8');
CREATE TABLE holds (
	id INTEGER NOT NULL, 
	session VARCHAR(128), 
	case_number VARCHAR(64), 
	reason TEXT NOT NULL, 
	placed_by VARCHAR(64) NOT NULL, 
	placed_ns BIGINT NOT NULL, 
	released_by VARCHAR(64), 
	released_ns BIGINT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session) REFERENCES sessions (session), 
	FOREIGN KEY(case_number) REFERENCES cases (number)
);
INSERT INTO "holds" VALUES(1,'20261206T193451Z-BC00001-e6a0d8',NULL,'pending court date','sup',1796585693473955211,NULL,NULL);
CREATE TABLE ledger (
	id INTEGER NOT NULL, 
	device VARCHAR(32) NOT NULL, 
	police_number VARCHAR(16) NOT NULL, 
	out_ns BIGINT NOT NULL, 
	out_by VARCHAR(64) NOT NULL, 
	in_ns BIGINT, 
	in_by VARCHAR(64), 
	PRIMARY KEY (id)
);
CREATE TABLE markers (
	session VARCHAR(128) NOT NULL, 
	segment INTEGER NOT NULL, 
	n BIGINT NOT NULL, 
	pts BIGINT NOT NULL, 
	wall_ns BIGINT NOT NULL, 
	label TEXT NOT NULL, 
	PRIMARY KEY (session, segment, n), 
	FOREIGN KEY(session) REFERENCES sessions (session)
);
CREATE TABLE purges (
	id INTEGER NOT NULL, 
	session VARCHAR(128) NOT NULL, 
	station VARCHAR(16) NOT NULL, 
	folder TEXT NOT NULL, 
	files INTEGER NOT NULL, 
	bytes BIGINT NOT NULL, 
	purged_by VARCHAR(64) NOT NULL, 
	why TEXT NOT NULL, 
	purged_ns BIGINT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE records (
	key_id VARCHAR(16) NOT NULL, 
	seq BIGINT NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	prev VARCHAR(64) NOT NULL, 
	session VARCHAR(128) NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	PRIMARY KEY (key_id, seq), 
	FOREIGN KEY(session) REFERENCES sessions (session)
);
INSERT INTO "records" VALUES('969410cf014b5429',2,'fae53029ccda835b92943a91dd75c0c01f577d800e34a3bfe1f33fba90bccd56','4bd22b86b85dac68dbdfa220e4e1217749eec877452f0c654872a569f3e43a26','20261206T193451Z-BC00001-e6a0d8','session-open.json');
INSERT INTO "records" VALUES('969410cf014b5429',3,'870b5dba96cc2a07bbdd5f1d028e8b3180bf5c45ec2a8e76b430473fc3339f94','fae53029ccda835b92943a91dd75c0c01f577d800e34a3bfe1f33fba90bccd56','20261206T193451Z-BC00001-e6a0d8','seg-000001.mp4.manifest');
INSERT INTO "records" VALUES('969410cf014b5429',4,'e01a58350da6782a89cb1d4c95073604148ece2372323e6e701c26c95ad7a2a4','870b5dba96cc2a07bbdd5f1d028e8b3180bf5c45ec2a8e76b430473fc3339f94','20261206T193451Z-BC00001-e6a0d8','session-close.json');
CREATE TABLE retention (
	class VARCHAR(32) NOT NULL, 
	days INTEGER, 
	what TEXT NOT NULL, 
	PRIMARY KEY (class)
);
INSERT INTO "retention" VALUES('ordinary',365,'every session: the strictest of 3 months, 6 months, 1 year (S3)');
INSERT INTO "retention" VALUES('marked',NULL,'a session with a marked segment (R7): long-term');
INSERT INTO "retention" VALUES('case',365,'after its last linked case is closed; held while one is open');
INSERT INTO "retention" VALUES('grace',30,'after expiry, before a purge may remove it');
CREATE TABLE schema_migrations (
	area VARCHAR(64) NOT NULL, 
	version INTEGER NOT NULL, 
	what TEXT NOT NULL, 
	applied_ns BIGINT NOT NULL, 
	PRIMARY KEY (area, version)
);
INSERT INTO "schema_migrations" VALUES('witness',1,'the chain records taken per device key, and the dockings refused',1796585692586674205);
INSERT INTO "schema_migrations" VALUES('witness',2,'the refusals a supervisor acknowledged',1796585692592083763);
INSERT INTO "schema_migrations" VALUES('audit',1,'the audit trail and its footage index',1796585692602492196);
INSERT INTO "schema_migrations" VALUES('audit',2,'the trail refuses UPDATE and DELETE',1796585692605108404);
INSERT INTO "schema_migrations" VALUES('catalogue',1,'catalogue, cases, holds, retention, purges, ledger, write-ups, dockings',1796585692627976616);
INSERT INTO "schema_migrations" VALUES('catalogue',2,'each segment''s first and last sealed GNSS fix',1796585692629407840);
INSERT INTO "schema_migrations" VALUES('access',1,'users and confidential sessions',1796585692764101226);
INSERT INTO "schema_migrations" VALUES('access',2,'export requests and the copy ledger',1796585692768388705);
CREATE TABLE segments (
	session VARCHAR(128) NOT NULL, 
	number INTEGER NOT NULL, 
	name VARCHAR(32) NOT NULL, 
	size BIGINT NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	frames INTEGER NOT NULL, 
	first_ns BIGINT, 
	last_ns BIGINT, 
	flags TEXT NOT NULL, 
	clock VARCHAR(16) NOT NULL, 
	place_first TEXT, 
	place_last TEXT, 
	index_archived BOOLEAN DEFAULT 0 NOT NULL, 
	video_archived BOOLEAN DEFAULT 0 NOT NULL, 
	PRIMARY KEY (session, number), 
	FOREIGN KEY(session) REFERENCES sessions (session)
);
INSERT INTO "segments" VALUES('20261206T193451Z-BC00001-e6a0d8',1,'seg-000001.mp4',102811,'38ecd9b8930bfce1ff8e0f856d95c578236c82214f4e7192799249f684177c91',30,1796585691448777036,1796585692415443817,'','unchecked',NULL,NULL,1,1);
CREATE TABLE sessions (
	session VARCHAR(128) NOT NULL, 
	station VARCHAR(16) NOT NULL, 
	folder TEXT NOT NULL, 
	device VARCHAR(32) NOT NULL, 
	key_id VARCHAR(16) NOT NULL, 
	police_number VARCHAR(16) NOT NULL, 
	officer VARCHAR(64) NOT NULL, 
	unit_number VARCHAR(16) NOT NULL, 
	unit VARCHAR(64) NOT NULL, 
	firmware VARCHAR(32) NOT NULL, 
	started_ns BIGINT NOT NULL, 
	ended_ns BIGINT, 
	archived_ns BIGINT NOT NULL, 
	clock VARCHAR(16) NOT NULL, 
	clock_reason TEXT, 
	previous_session VARCHAR(128), 
	gap_ms BIGINT, 
	pre_event_ms BIGINT NOT NULL, 
	segments_sealed INTEGER, 
	manifests INTEGER DEFAULT '0' NOT NULL, 
	indexes INTEGER DEFAULT '0' NOT NULL, 
	videos INTEGER DEFAULT '0' NOT NULL, 
	stop_reason TEXT, 
	stop_code VARCHAR(32), 
	interrupted BOOLEAN DEFAULT 0 NOT NULL, 
	marked BOOLEAN DEFAULT 0 NOT NULL, 
	place_first TEXT, 
	place_last TEXT, 
	purged_ns BIGINT, 
	PRIMARY KEY (session)
);
INSERT INTO "sessions" VALUES('20261206T193451Z-BC00001-e6a0d8','e35399fecbe071ee','2026/12/06/110101000001/BC00001/012345/20261206T193451Z-BC00001-e6a0d8','BC00001','969410cf014b5429','012345','张三','110101000001','某市交通运输局','0.1.0',1796585691468732463,1796585692522716070,1796585692653250338,'unchecked',NULL,NULL,NULL,0,1,1,1,1,'duration reached','duration reached',0,0,NULL,NULL,NULL);
CREATE TABLE users (
	name VARCHAR(64) NOT NULL, 
	full_name VARCHAR(64) NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	password VARCHAR(256) NOT NULL, 
	created_ns BIGINT NOT NULL, 
	created_by VARCHAR(64), 
	PRIMARY KEY (name)
);
INSERT INTO "users" VALUES('admin','管理员','administrator','scrypt$32768$8$1$079548503aa0aca6a357497c4e872e79$8d02be86f2e65ff8ff5fead2250d5323407c7401d947f37c1be48b0e00021eee4bc2aea6f93287a670c3e663365fca92cdcfebceb116f4ec138160fe0b2c6201',1796585692882485648,NULL);
INSERT INTO "users" VALUES('rev','李四','reviewer','scrypt$32768$8$1$56f05c009aa52b022fc6115d2e082e3a$cba1f82b4bff3da756d9ec5dd3f4b9b343da6f71d9b425a330cf37c3829e9fc61fedcf7fba8580d0644c1b46f5666247c11c8998dfba5a59fe2792fe06d5d8f8',1796585693003710255,'admin');
INSERT INTO "users" VALUES('sup','王五','supervisor','scrypt$32768$8$1$d9b6976c1ecffc2a1e0c2593b36983de$fdf38f1d637ab853c2a592e47987483443e63d5664ed282fad2cf18fc8c51a4841f92474c032219730eb724fd1bc2db385e3529ee6c7ccfd48fe627e3f44d706',1796585693112019453,'admin');
INSERT INTO "users" VALUES('cus','钱八','custodian','scrypt$32768$8$1$7a9b6a9ac3073d86330b960e667e76bc$da8aff9caabbc3316472ef5787db80f4153936f5c555f9925483ee4c98b21faddc0a463711cd35628673cbe9ca42da54ef477bc200dd15856ce4ac6df828ee25',1796585693226695876,'admin');
CREATE TABLE witness_acknowledgements (
	refusal INTEGER NOT NULL, 
	user VARCHAR(64) NOT NULL, 
	reason TEXT NOT NULL, 
	acknowledged_ns BIGINT NOT NULL, 
	audit_seq BIGINT NOT NULL, 
	PRIMARY KEY (refusal), 
	FOREIGN KEY(refusal) REFERENCES witness_refusals (id)
);
CREATE TABLE witness_records (
	key_id VARCHAR(16) NOT NULL, 
	seq BIGINT NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	prev VARCHAR(64) NOT NULL, 
	device VARCHAR(32) NOT NULL, 
	item TEXT NOT NULL, 
	taken_ns BIGINT NOT NULL, 
	PRIMARY KEY (key_id, seq)
);
INSERT INTO "witness_records" VALUES('969410cf014b5429',1,'4bd22b86b85dac68dbdfa220e4e1217749eec877452f0c654872a569f3e43a26','0000000000000000000000000000000000000000000000000000000000000000','BC00001','device/identity-000001.json',1796585692649354125);
INSERT INTO "witness_records" VALUES('969410cf014b5429',2,'fae53029ccda835b92943a91dd75c0c01f577d800e34a3bfe1f33fba90bccd56','4bd22b86b85dac68dbdfa220e4e1217749eec877452f0c654872a569f3e43a26','BC00001','20261206T193451Z-BC00001-e6a0d8/session-open.json',1796585692665942489);
INSERT INTO "witness_records" VALUES('969410cf014b5429',3,'870b5dba96cc2a07bbdd5f1d028e8b3180bf5c45ec2a8e76b430473fc3339f94','fae53029ccda835b92943a91dd75c0c01f577d800e34a3bfe1f33fba90bccd56','BC00001','20261206T193451Z-BC00001-e6a0d8/seg-000001.mp4.manifest',1796585692675657630);
INSERT INTO "witness_records" VALUES('969410cf014b5429',4,'e01a58350da6782a89cb1d4c95073604148ece2372323e6e701c26c95ad7a2a4','870b5dba96cc2a07bbdd5f1d028e8b3180bf5c45ec2a8e76b430473fc3339f94','BC00001','20261206T193451Z-BC00001-e6a0d8/session-close.json',1796585692700006312);
CREATE TABLE witness_refusals (
	id INTEGER NOT NULL, 
	key_id VARCHAR(16) NOT NULL, 
	device VARCHAR(32) NOT NULL, 
	refused_ns BIGINT NOT NULL, 
	reason TEXT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE writeups (
	id INTEGER NOT NULL, 
	session VARCHAR(128) NOT NULL, 
	station VARCHAR(16) NOT NULL, 
	file TEXT NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	reason VARCHAR(32) NOT NULL, 
	text TEXT NOT NULL, 
	written_by VARCHAR(64) NOT NULL, 
	written_ns BIGINT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session) REFERENCES sessions (session)
);
CREATE TRIGGER audit_trail_no_update BEFORE UPDATE ON audit_trail BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_trail_no_delete BEFORE DELETE ON audit_trail BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_footage_no_update BEFORE UPDATE ON audit_footage BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_footage_no_delete BEFORE DELETE ON audit_footage BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE INDEX sessions_unit ON sessions (unit_number, started_ns);
CREATE INDEX sessions_started ON sessions (started_ns);
CREATE INDEX sessions_officer ON sessions (police_number, started_ns);
CREATE INDEX sessions_officer_name ON sessions (officer, started_ns);
CREATE INDEX sessions_device ON sessions (device, started_ns);
CREATE INDEX ledger_device ON ledger (device, out_ns);
CREATE INDEX dockings_key ON dockings (key_id, docked_ns);
CREATE INDEX markers_label ON markers (label);
CREATE INDEX case_links_session ON case_links (session);
CREATE INDEX case_links_case ON case_links (case_number);
COMMIT;
