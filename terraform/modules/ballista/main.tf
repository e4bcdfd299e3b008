# An optional Apache DataFusion Ballista cluster for jobs that outgrow one task: a scheduler
# service, found by name through Cloud Map, and an executor service. Job tasks run
# `lakejob run <job> --engine ballista --scheduler <scheduler_url>`: the plan's stages run on the
# executors, which read raw files and Delta files from the lake themselves, and the job task
# keeps the quality gate and the Delta and catalog commits. Both services run the same lakejob
# image (`lakejob cluster scheduler|executor`), because they must carry lakejob's plan codecs.

data "aws_region" "current" {}

locals {
  scheduler_port = 50050
  flight_port    = 50051
  grpc_port      = 50052
  scheduler_host = "scheduler.${aws_service_discovery_private_dns_namespace.cluster.name}"
  log_configuration = {
    logDriver = "awslogs"
    options = {
      awslogs-group         = var.log_group_name
      awslogs-region        = data.aws_region.current.name
      awslogs-stream-prefix = "ballista"
    }
  }
}

resource "aws_service_discovery_private_dns_namespace" "cluster" {
  name        = "${var.name}.ballista.internal"
  description = "Names of the ${var.name} Ballista cluster."
  vpc         = var.vpc_id
}

resource "aws_service_discovery_service" "scheduler" {
  name = "scheduler"
  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.cluster.id
    routing_policy = "MULTIVALUE"
    dns_records {
      ttl  = 10
      type = "A"
    }
  }
  health_check_custom_config {
    failure_threshold = 1
  }
}

# Executors register with the scheduler, fetch each other's shuffle output, and serve results to
# the job task; everything else they reach is AWS over HTTPS.
resource "aws_security_group" "cluster" {
  name        = "${var.name}-ballista"
  description = "Ballista scheduler and executors of ${var.name}"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "within_cluster" {
  security_group_id            = aws_security_group.cluster.id
  description                  = "scheduler gRPC, executor Flight and gRPC, among the cluster"
  referenced_security_group_id = aws_security_group.cluster.id
  ip_protocol                  = "tcp"
  from_port                    = local.scheduler_port
  to_port                      = local.grpc_port
}

resource "aws_vpc_security_group_ingress_rule" "from_jobs" {
  for_each                     = toset(var.client_security_group_ids)
  security_group_id            = aws_security_group.cluster.id
  description                  = "job tasks submit plans (scheduler) and fetch results (executor Flight)"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = local.scheduler_port
  to_port                      = local.flight_port
}

resource "aws_vpc_security_group_egress_rule" "within_cluster" {
  security_group_id            = aws_security_group.cluster.id
  description                  = "to the scheduler and the other executors"
  referenced_security_group_id = aws_security_group.cluster.id
  ip_protocol                  = "tcp"
  from_port                    = local.scheduler_port
  to_port                      = local.grpc_port
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.cluster.id
  description       = "S3, Glue, ECR and CloudWatch Logs over HTTPS"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_ecs_task_definition" "scheduler" {
  family                   = "${var.name}-ballista-scheduler"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.scheduler_cpu
  memory                   = var.scheduler_memory
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = var.task_role_arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  container_definitions = jsonencode([{
    name                   = "scheduler"
    image                  = var.image
    essential              = true
    readonlyRootFilesystem = true
    user                   = "65532:65532"
    command = [
      "cluster", "scheduler",
      "--bind", "0.0.0.0:${local.scheduler_port}",
      "--external-host", local.scheduler_host,
    ]
    portMappings     = [{ containerPort = local.scheduler_port, protocol = "tcp" }]
    environment      = [{ name = "LAKEJOB_LAKE", value = var.lake_url }]
    logConfiguration = local.log_configuration
  }])
}

resource "aws_ecs_task_definition" "executor" {
  family                   = "${var.name}-ballista-executor"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.executor_cpu
  memory                   = var.executor_memory
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = var.task_role_arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  ephemeral_storage {
    size_in_gib = 100
  }
  volume {
    name = "scratch"
  }
  container_definitions = jsonencode([{
    name                   = "executor"
    image                  = var.image
    essential              = true
    readonlyRootFilesystem = true
    user                   = "65532:65532"
    # Shuffle files and spills go to the scratch volume. Without --external-host the scheduler
    # reaches the executor at the address it registered from: the task's own.
    mountPoints = [{ sourceVolume = "scratch", containerPath = "/tmp", readOnly = false }]
    command = [
      "cluster", "executor",
      "--scheduler-address", "${local.scheduler_host}:${local.scheduler_port}",
      "--bind-host", "0.0.0.0",
      "--flight-port", tostring(local.flight_port),
      "--grpc-port", tostring(local.grpc_port),
      "--work-dir", "/tmp/ballista",
    ]
    portMappings = [
      { containerPort = local.flight_port, protocol = "tcp" },
      { containerPort = local.grpc_port, protocol = "tcp" },
    ]
    environment = [
      { name = "LAKEJOB_LAKE", value = var.lake_url },
      { name = "LAKEJOB_MEMORY_LIMIT", value = "${floor(var.executor_memory * 0.75)}MB" },
      { name = "TMPDIR", value = "/tmp" },
    ]
    logConfiguration = local.log_configuration
  }])
}

resource "aws_ecs_service" "scheduler" {
  name            = "${var.name}-ballista-scheduler"
  cluster         = var.ecs_cluster_arn
  task_definition = aws_ecs_task_definition.scheduler.arn
  desired_count   = 1
  launch_type     = "FARGATE"
  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.cluster.id]
    assign_public_ip = false
  }
  service_registries {
    registry_arn = aws_service_discovery_service.scheduler.arn
  }
}

resource "aws_ecs_service" "executor" {
  name            = "${var.name}-ballista-executor"
  cluster         = var.ecs_cluster_arn
  task_definition = aws_ecs_task_definition.executor.arn
  desired_count   = var.executor_count
  launch_type     = "FARGATE"
  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.cluster.id]
    assign_public_ip = false
  }
  depends_on = [aws_ecs_service.scheduler]
}
