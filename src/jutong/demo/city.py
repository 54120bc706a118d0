"""The demo city (示范市): deterministic data, no database.

Everything here is fixed by seeds, except the calendar: usage months are the 12 full months
before the reference date (default today) and maintenance dates are counted back from it, so
the zombie rules fire the same way whenever the demo is loaded.

The sharing statuses of the 130 systems are exactly the audit counts of seed 003
(“在审计调查的 130 个电子政务系统中，实现数据共享的有 40 个 … 单机运行的系统 10 个”).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from jutong.core.auth import Role
from jutong.core.clock import last_months, months_earlier
from jutong.registry.models import (
    FilingKind,
    FilingReview,
    FundingSource,
    IntegrationState,
    Network,
    SharingStatus,
    SystemStatus,
    UsageScope,
)
from jutong.standards.codes import org_code_check_char, uscc_check_char

SEED = "jutong-示范市-2024"
PROVINCE = ("340000", "示范省")
CITY = ("341000", "示范市")
DISTRICTS: tuple[tuple[str, str], ...] = (
    ("341002", "城关区"),
    ("341003", "东湖区"),
    ("341004", "西山区"),
    ("341005", "南河区"),
    ("341006", "北岭区"),
)
USAGE_MONTHS = 12

# seed 003: 40 已共享, 26 不共享, 17 处室内部共享, 37 部门内部共享, 10 单机运行
AUDIT_COUNTS: dict[SharingStatus, int] = {
    SharingStatus.shared: 40,
    SharingStatus.not_shared: 26,
    SharingStatus.office_internal: 17,
    SharingStatus.department_internal: 37,
    SharingStatus.standalone: 10,
}

_STATUS_LETTERS = {
    "S": SharingStatus.shared,
    "N": SharingStatus.not_shared,
    "O": SharingStatus.office_internal,
    "D": SharingStatus.department_internal,
    "A": SharingStatus.standalone,
}


@dataclass(frozen=True)
class DemoDepartment:
    code: str
    name: str
    short: str  # 简称，如“公安局”
    credit_code: str


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: Role
    display_name: str
    department_code: str | None


@dataclass(frozen=True)
class DemoUsage:
    month: str  # YYYY-MM
    active_users: int
    transactions: int
    cpu_utilization: float | None
    storage_utilization: float | None


@dataclass(frozen=True)
class DemoTarget:
    department_code: str
    name: str
    description: str


@dataclass(frozen=True)
class DemoSystem:
    code: str
    name: str
    department_code: str
    description: str
    usage_scope: UsageScope
    sharing_status: SharingStatus
    approving_department: str
    approval_date: date
    funding_source: FundingSource
    construction_cost: Decimal  # 万元
    annual_om_budget: Decimal  # 万元/年
    network: Network
    connected_to_platform: bool
    connection_required: bool
    protection_level: int | None
    protection_assessed: bool
    offsite_backup: bool
    last_maintained_on: date | None
    cpu_utilization: float | None
    storage_utilization: float | None
    status: SystemStatus
    integration_target: str | None  # DemoTarget.name
    integration_state: IntegrationState
    usage: tuple[DemoUsage, ...]
    expected_rules: frozenset[str] = field(default_factory=frozenset)  # zombie rules it is built to hit
    near_misses: frozenset[str] = field(default_factory=frozenset)  # rules it only just escapes


@dataclass(frozen=True)
class DemoFiling:
    system_code: str
    kind: FilingKind
    fiscal_year: int
    amount: Decimal  # 万元
    note: str
    submitted_by: str | None  # username
    review: FilingReview
    review_note: str = ""
    reviewed_by: str | None = None


@dataclass(frozen=True)
class DemoCity:
    reference: date
    months: tuple[str, ...]  # oldest first
    districts: tuple[tuple[str, str], ...]
    departments: tuple[DemoDepartment, ...]
    users: tuple[DemoUser, ...]
    targets: tuple[DemoTarget, ...]
    systems: tuple[DemoSystem, ...]
    filings: tuple[DemoFiling, ...]

    def system(self, code: str) -> DemoSystem:
        return next(s for s in self.systems if s.code == code)

    def system_named(self, name: str) -> DemoSystem:
        return next(s for s in self.systems if s.name == name)

    def expected_hits(self, rule: str) -> list[DemoSystem]:
        return [s for s in self.systems if rule in s.expected_rules]

    def near_misses_of(self, rule: str) -> list[DemoSystem]:
        return [s for s in self.systems if rule in s.near_misses]


# Sign-ins printed by `jutong demo` (memorable on purpose: this is a demo, change them in production).
USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "jutong-admin", Role.operator, "李明", "DSJ"),
    DemoUser("auditor", "jutong-audit", Role.auditor, "王芳", "SHJ"),
    DemoUser("gongan", "jutong-gongan", Role.steward, "赵强", "GA"),
    DemoUser("minzheng", "jutong-minzheng", Role.steward, "孙丽", "MZ"),
    DemoUser("renshe", "jutong-renshe", Role.consumer, "周敏", "RS"),
)

# (code, full name, short name)
_DEPARTMENTS: tuple[tuple[str, str, str], ...] = (
    ("GA", "示范市公安局", "公安局"),
    ("MZ", "示范市民政局", "民政局"),
    ("RS", "示范市人力资源和社会保障局", "人社局"),
    ("SJ", "示范市市场监督管理局", "市场监管局"),
    ("WJ", "示范市卫生健康委员会", "卫健委"),
    ("JY", "示范市教育局", "教育局"),
    ("ZJ", "示范市住房和城乡建设局", "住建局"),
    ("ZR", "示范市自然资源和规划局", "自然资源局"),
    ("SHJ", "示范市审计局", "审计局"),
    ("DSJ", "示范市大数据管理局", "大数据局"),
    ("CZ", "示范市财政局", "财政局"),
    ("FG", "示范市发展和改革委员会", "发改委"),
    ("JT", "示范市交通运输局", "交通运输局"),
    ("SL", "示范市水利局", "水利局"),
    ("NY", "示范市农业农村局", "农业农村局"),
    ("SW", "示范市商务局", "商务局"),
    ("WL", "示范市文化和旅游局", "文旅局"),
    ("YJ", "示范市应急管理局", "应急管理局"),
    ("ST", "示范市生态环境局", "生态环境局"),
    ("SWJ", "国家税务总局示范市税务局", "税务局"),
    ("YB", "示范市医疗保障局", "医保局"),
    ("TJ", "示范市统计局", "统计局"),
    ("SF", "示范市司法局", "司法局"),
    ("TY", "示范市退役军人事务局", "退役军人事务局"),
    ("CG", "示范市城市管理局", "城管局"),
    ("QX", "示范市气象局", "气象局"),
    ("DA", "示范市档案局", "档案局"),
    ("XF", "示范市信访局", "信访局"),
    ("ZW", "示范市政务服务中心", "政务服务中心"),
    ("CL", "示范市残疾人联合会", "残联"),
)

# Per department: "状态|系统名称|功能描述|标记" (状态: S 已共享, N 不共享, O 处室内部共享, D 部门内部共享,
# A 单机运行; 标记 picks a special profile below, empty for an ordinary system).
_SYSTEMS: dict[str, str] = {
    "GA": """
S|人口信息管理系统|户籍人口登记、迁入迁出、出生死亡申报和居民身份证受理，维护全市常住人口基础信息|
S|出入境证件办理系统|受理护照和往来港澳台通行证申请，审批签发出入境证件并提供办理进度查询|vertical
S|出租房屋登记管理系统|出租房屋和承租人信息登记，房屋租赁合同备案办理，全市房屋租赁情况统计|rep2
N|刑事案件侦办系统|刑事案件立案、侦查、破案全过程办理，管理涉案人员、物品和线索|
D|治安管理综合系统|治安案件受理和查处，管理旅馆业、典当业等特种行业的从业登记|om_unconnected
O|派出所值班排班系统|派出所民警值班表编排、调班申请和值班日志记录|integrate_ga
O|警用装备台账系统|警用车辆、枪支弹药和单警装备的入库、领用、维修报废台账|integrate_ga
A|指纹比对工作站|现场指纹采集录入并在本地比对库中检索，输出比对结果报告|
""",
    "MZ": """
S|社会救助信息管理系统|最低生活保障、特困人员供养和临时救助的申请审核、资金发放和动态管理|
S|婚姻登记管理系统|办理结婚登记、离婚登记和补领婚姻登记证，提供婚姻状况查询|
D|养老服务管理系统|养老机构备案、床位运营补贴审核和居家养老服务记录|
D|社会组织管理系统|社会团体、民办非企业单位和基金会的成立、变更、注销登记及年检|
O|殡葬服务管理系统|殡仪馆遗体接运、火化登记和公墓安葬信息记录|integrate_mz
O|区划地名档案系统|行政区划调整档案和标准地名的登记、审核与查询|retired
N|居民家庭经济状况核对系统|核对救助申请家庭的收入、存款、车辆和房产等经济状况，出具核对报告|
""",
    "RS": """
S|社会保险业务经办系统|企业职工养老、失业、工伤保险的参保登记、缴费核定和待遇发放|
S|就业创业服务系统|失业登记、就业登记、创业补贴申领和职业介绍服务|
S|社会保障卡管理系统|社会保障卡申领、制发、挂失补换和应用目录管理|
D|劳动人事争议仲裁系统|劳动争议仲裁案件的立案、开庭排期、裁决文书制作和结案归档|
D|职业技能鉴定管理系统|职业技能等级认定考试报名、考务安排和证书核发|
N|劳动保障监察系统|用人单位劳动用工投诉举报受理、立案调查和欠薪案件处理|
O|人事档案管理系统|机关事业单位人员人事档案的接收、转递和借阅登记|low_usage
""",
    "SJ": """
S|市场主体登记注册系统|企业、个体工商户和农民专业合作社的设立、变更、注销登记|
S|企业信用信息公示系统|归集企业行政许可、行政处罚信息，向社会公示企业信用记录，提供信用查询|rep1
D|食品安全监管系统|食品生产经营许可、日常监督检查和抽检不合格食品的核查处置|
D|特种设备安全监察系统|电梯、锅炉、压力容器等特种设备的使用登记、定期检验和隐患排查|unconnected
N|价格监测系统|重要商品和服务价格采集、价格指数计算和异常波动预警|
A|计量器具检定工作站|计量器具送检登记、检定数据录入和检定证书打印|
""",
    "WJ": """
S|全民健康信息平台|汇聚医疗机构诊疗数据，建立居民电子健康档案和电子病历共享调阅|
S|出生医学证明管理系统|出生医学证明的首次签发、补发、换发和真伪核验|
D|医疗机构监管系统|医疗机构执业登记、校验和医师、护士执业注册管理|
D|传染病监测预警系统|法定传染病病例报告、聚集性疫情监测和预警信号处置|vertical
N|卫生健康统计直报系统|卫生机构年报、卫生资源和医疗服务统计报表的填报审核|
O|家庭医生签约服务系统|家庭医生团队签约居民、随访记录和履约考核|
""",
    "JY": """
S|学籍管理系统|中小学生学籍注册、转学、休复学和毕业信息管理|
S|义务教育招生入学系统|义务教育阶段新生网上报名、学区划片和录取结果公布|
O|教师资格认定系统|教师资格申请受理、体检结果登记、认定审批和证书发放|
D|学生资助管理系统|家庭经济困难学生认定、助学金发放和生源地助学贷款管理|
N|中考考务管理系统|中考报名、考场编排、成绩发布和志愿填报录取|
O|校车安全管理系统|校车备案、驾驶员资质审核和行驶线路登记|low_usage_near_users
""",
    "ZJ": """
S|房屋租赁登记备案系统|办理房屋租赁合同登记备案，录入出租房屋和承租人信息，统计全市房屋租赁情况|rep2
S|商品房网签备案系统|商品房买卖合同网上签约、备案和预售资金监管|
D|建筑工程施工许可系统|建筑工程施工许可申请受理、审查和证书核发|
D|住房保障管理系统|公共租赁住房申请审核、轮候配租和租金补贴发放|
N|建筑市场监管系统|建筑企业资质、从业人员注册和工程项目招投标监管|
O|物业管理备案系统|物业服务企业和业主委员会备案，物业维修资金使用登记|
""",
    "ZR": """
S|不动产登记系统|土地、房屋等不动产的首次登记、转移登记、抵押登记和登记资料查询|
S|国土空间基础信息平台|整合基础测绘、遥感影像和国土空间规划数据，提供一张图浏览与分析|
D|建设用地审批系统|建设用地预审、农用地转用和土地征收报批|
N|矿产资源管理系统|采矿权、探矿权的出让登记和矿山储量动态监测|
A|测绘成果管理工作站|基础测绘成果的入库、提供使用审批和保密登记|
""",
    "SHJ": """
O|审计管理系统|审计项目计划、审计实施方案、审计底稿和审计报告的全过程管理|
N|联网审计数据分析平台|采集被审计单位财政财务数据，开展疑点筛查和审计分析|
A|审计档案管理工作站|审计项目档案的整理、编目和借阅登记|no_maintenance_unknown
""",
    "DSJ": """
S|政务信息资源共享交换平台|部门间数据目录发布、共享申请审批和数据交换服务|
S|政务云管理平台|政务云计算、存储和网络资源的申请、分配和使用监控|
S|城市运行管理中心平台|汇聚城市运行体征指标，提供城市运行态势监测和事件联动处置|
D|电子政务外网运维管理系统|政务外网接入单位台账、网络设备监控和故障工单处理|
D|网络安全态势感知平台|采集政务网络安全日志，发现攻击行为并通报处置|
O|数据资源普查填报系统|部门政务信息系统和数据资源普查表的在线填报与汇总|
""",
    "CZ": """
S|预算管理一体化系统|部门预算编制、指标管理、国库集中支付和会计核算|
S|非税收入收缴管理系统|行政事业性收费和罚没收入的开票、缴款和对账|
D|政府采购管理系统|政府采购计划备案、采购合同备案和资金支付审核|
D|行政事业单位资产管理系统|行政事业单位国有资产的配置、使用、处置登记和年报|
N|财政票据管理系统|财政票据的申领、核销和电子票据开具|
""",
    "FG": """
S|公共信用信息平台|企业信用记录向社会公示，归集行政许可和行政处罚信息，提供企业信用查询服务|rep1
D|投资项目在线审批监管平台|企业投资项目核准备案、审批事项办理进度和项目代码赋码|
D|重点项目调度系统|市重点建设项目投资进度、形象进度月度调度和问题协调|
N|粮食储备监管系统|地方储备粮库存数量、质量和轮换计划监管|no_business
""",
    "JT": """
S|道路运输管理系统|道路客货运输经营许可、营运车辆年审和从业资格证管理|
N|公交运营调度系统|公交车辆实时定位、线路排班和客流统计|
D|交通工程建设管理系统|公路和港航工程项目的招标、质量安全监督和竣工验收|idle
N|出租汽车监管系统|巡游出租车和网约车经营者、车辆、驾驶员监管及投诉处理|
O|路政案件管理系统|路政巡查、超限运输许可和路产损坏赔偿案件记录|
""",
    "SL": """
S|水资源管理系统|取水许可审批、取水计量监测和水资源费征收|
D|防汛抗旱指挥系统|雨情、水情、工情实时监测，防汛预案管理和抢险调度|
N|河湖长制管理系统|河湖长巡河记录、问题交办和河湖健康评价|no_maintenance_near
A|水文资料整编工作站|水文站观测资料的录入、整编和年鉴刊印|
""",
    "NY": """
S|农村土地承包经营权信息系统|农村土地承包合同、承包经营权证和土地流转登记|
D|动物防疫监管系统|动物免疫标识、检疫申报出证和病死畜禽无害化处理|
N|农机购置补贴系统|农业机械购置补贴申请、核验和资金兑付|
O|农业统计填报系统|农作物播种面积、产量和畜牧业生产情况的定期填报|
""",
    "SW": """
N|对外贸易经营者备案系统|对外贸易经营者备案登记、变更和进出口数据统计|
D|单用途预付卡管理系统|单用途商业预付卡发卡企业备案、预收资金存管和投诉处理|low_usage_near_transactions
N|商贸流通统计系统|限额以上批发零售和住宿餐饮企业经营数据采集|
""",
    "WL": """
S|文化市场综合执法系统|文化、旅游和出版市场的行政许可、日常检查和案件查处|
D|旅游景区客流监测系统|A级景区实时客流统计、最大承载量预警和节假日客流报送|idle
A|文物普查数据工作站|不可移动文物普查资料的本地录入、照片整理和汇总上报|
O|图书馆业务管理系统|图书采编、借还流通和读者证办理|
""",
    "YJ": """
S|安全生产监管执法系统|生产经营单位安全生产许可、执法检查和行政处罚|
D|应急指挥调度系统|突发事件信息接报、应急资源调度和视频会商|
N|自然灾害灾情管理系统|自然灾害灾情统计报送、救灾物资发放和倒损房屋恢复重建|idle_near_cpu
""",
    "ST": """
S|排污许可管理系统|排污单位排污许可证申请、核发和执行报告审核|
D|环境质量自动监测系统|空气、水质自动监测站实时数据采集和环境质量评价|
N|建设项目环评审批系统|建设项目环境影响评价文件受理、技术评估和审批|
""",
    "SWJ": """
S|税收征管系统|纳税人登记、申报征收、发票管理和税务稽查|vertical
N|个人所得税汇算系统|个人所得税综合所得年度汇算申报和退税审核|vertical
D|税收风险管理系统|纳税人税收风险指标扫描、风险等级排序和应对任务推送|
""",
    "YB": """
S|医疗保障信息平台|基本医疗保险参保登记、医疗费用结算和异地就医备案|vertical
D|医保基金智能监管系统|定点医药机构费用审核、违规行为筛查和基金监管稽核|
D|医药集中采购系统|药品和医用耗材集中带量采购、配送和货款结算|
N|长期护理保险经办系统|长期护理保险失能评定、护理服务机构管理和待遇支付|
""",
    "TJ": """
S|统计联网直报系统|调查对象统计报表网上直报、审核和汇总|
D|统计数据管理系统|国民经济核算数据、统计年鉴资料编辑和统计数据发布|idle_near_unknown
A|普查数据处理工作站|经济普查和人口普查资料的本地录入、编码和汇总|
""",
    "SF": """
S|公共法律服务平台|法律咨询、法律援助申请和公证、司法鉴定服务预约|
D|社区矫正管理系统|社区矫正对象接收、定位监管、教育帮扶和解除矫正|
N|行政复议案件系统|行政复议申请受理、审理和复议决定文书管理|no_maintenance
D|人民调解管理系统|矛盾纠纷人民调解案件登记、调解过程记录和调解协议司法确认|
""",
    "TY": """
N|退役军人信息采集系统|退役军人基本信息采集、悬挂光荣牌和优待证办理|
D|优抚对象管理系统|伤残军人、烈士遗属等优抚对象认定和抚恤补助发放|
O|军休服务管理系统|军队离退休干部服务管理、活动组织和医疗保健记录|
""",
    "CG": """
S|数字化城市管理平台|城市部件事件巡查上报、立案派遣、处置核查和结案考评|
A|户外广告设置台账工作站|户外广告和招牌设置审批结果的本地登记与到期提醒|
N|渣土运输监管系统|渣土运输车辆备案、运输线路审批和卫星定位监控|no_business_near
O|环卫作业管理系统|道路清扫保洁、垃圾清运车辆作业里程和作业质量考核|low_usage
""",
    "QX": """
S|气象预警信息发布系统|气象灾害预警信号制作、审核和多渠道发布|
D|气象综合观测系统|自动气象站观测数据采集、质量控制和设备运行监控|vertical
N|人工影响天气作业系统|人工增雨防雹作业申请、空域审批和作业效果记录|
""",
    "DA": """
D|数字档案馆系统|馆藏档案数字化成果管理、档案著录检索和利用审批|no_maintenance
A|档案数字化加工工作站|纸质档案扫描、图像处理和目录录入|
""",
    "XF": """
S|网上信访系统|群众来信来访和网上信访事项登记、转送交办和办理答复|
N|信访积案化解系统|信访积案包案领导、化解进度和息诉罢访情况记录|no_business
""",
    "ZW": """
S|一体化在线政务服务平台|政务服务事项网上申报、统一身份认证和办件进度查询|
S|12345政务服务便民热线系统|市民诉求电话和网络受理、派单转办和回访评价|
D|政务服务好差评系统|政务服务评价数据采集、差评核实整改和评价结果统计|
O|窗口排队叫号系统|大厅窗口取号、排队叫号和窗口业务量统计|
""",
    "CL": """
S|残疾人证管理系统|残疾人证申领、残疾评定结果录入和证件换领注销|
D|残疾人就业服务系统|残疾人职业培训报名、按比例就业审核和就业补贴发放|
A|康复服务登记工作站|残疾儿童康复救助申请登记和康复训练记录|
""",
}

_TARGETS: tuple[DemoTarget, ...] = (
    DemoTarget(
        "GA",
        "示范市公安局警务综合平台",
        "整合派出所值班、警用装备等处室自建系统，统一用户、统一数据、统一运维",
    ),
    DemoTarget("MZ", "示范市民政一体化业务平台", "整合殡葬、区划地名等处室系统，形成民政业务一张网"),
)
_TARGET_OF_MARK = {
    "integrate_ga": _TARGETS[0].name,
    "integrate_mz": _TARGETS[1].name,
    "retired": _TARGETS[1].name,
}

_VERTICAL_APPROVERS = {
    "GA": "公安部",
    "WJ": "国家卫生健康委员会",
    "SWJ": "国家税务总局",
    "YB": "国家医疗保障局",
    "QX": "中国气象局",
}


# --------------------------------------------------------------------------------------------
# calendar helpers


def months_ago(reference: date, months: int, day: int) -> date:
    return months_earlier(date(reference.year, reference.month, min(day, 28)), months)


# --------------------------------------------------------------------------------------------
# 统一社会信用代码 (GB 32100-2015) with a valid check digit, for 机关 (登记管理部门 1, 类别 1)


def credit_code(region_code: str, serial: int) -> str:
    org_body = f"{3000000 + serial * 37:08d}"  # 组织机构代码本体 (GB 11714)
    body = "11" + region_code + org_body + org_code_check_char(org_body)
    return body + uscc_check_char(body)


# --------------------------------------------------------------------------------------------
# building the city

_USERS_RANGE: dict[UsageScope, tuple[int, int]] = {
    UsageScope.office: (12, 45),
    UsageScope.department: (25, 400),
    UsageScope.cross_department: (80, 1500),
    UsageScope.citywide: (500, 30000),
    UsageScope.cross_level: (200, 5000),
}
_TX_RANGE: dict[UsageScope, tuple[int, int]] = {
    UsageScope.office: (250, 3000),
    UsageScope.department: (800, 20000),
    UsageScope.cross_department: (3000, 80000),
    UsageScope.citywide: (20000, 500000),
    UsageScope.cross_level: (10000, 300000),
}
_COST_RANGE: dict[SharingStatus, tuple[int, int]] = {
    SharingStatus.shared: (200, 2500),
    SharingStatus.not_shared: (50, 800),
    SharingStatus.department_internal: (80, 900),
    SharingStatus.office_internal: (10, 120),
    SharingStatus.standalone: (5, 60),
}


@dataclass
class _Profile:
    """Monthly usage as a function of how many months back (1 = last full month)."""

    users: int
    transactions: int
    cpu: float
    storage: float

    def month(self, rng: random.Random) -> tuple[int, int, float | None, float | None]:
        factor = rng.uniform(0.8, 1.2)
        cpu = round(min(95.0, max(6.0, self.cpu + rng.uniform(-5, 5))), 1)
        storage = round(min(97.0, max(12.0, self.storage + rng.uniform(-3, 3))), 1)
        return round(self.users * factor), round(self.transactions * factor), cpu, storage


def _usage(
    rng: random.Random, months: tuple[str, ...], profile: _Profile, mark: str
) -> tuple[DemoUsage, ...]:
    rows = []
    for index, month in enumerate(months):
        back = len(months) - index  # 12 … 1
        users, tx, cpu, storage = profile.month(rng)
        if mark == "no_business" and back <= 8:
            users, tx = 0, 0  # nothing for the last 8 months (rule: 6)
        elif mark == "no_business_near" and back <= 6:
            users, tx = (1, 1) if back == 4 else (0, 0)  # one single transaction in the last 6 months
        elif mark == "retired" and back <= 10:
            users, tx = 0, 0  # merged into the 民政 platform: nothing since
        elif mark == "idle" and back <= 4:
            cpu, storage = round(rng.uniform(1.5, 3.8), 1), round(rng.uniform(4.0, 8.5), 1)
        elif mark == "idle_near_cpu" and back <= 3:
            cpu, storage = 5.5, round(rng.uniform(4.0, 8.0), 1)  # CPU 5.5 % is not below 5 %
        elif mark == "idle_near_unknown" and back <= 3:
            cpu, storage = round(rng.uniform(1.5, 3.5), 1), round(rng.uniform(4.0, 8.0), 1)
            if back == 2:
                cpu, storage = None, None  # not reported that month: cannot count as idle
        elif mark == "low_usage" and back <= 6:
            users, tx = rng.randint(3, 6), rng.randint(40, 120)
        elif mark == "low_usage_near_users" and back <= 6:
            users, tx = 11, 150  # 11 users on average: not below 10
        elif mark == "low_usage_near_transactions" and back <= 6:
            users, tx = 6, 205  # 205 transactions on average: not below 200
        rows.append(DemoUsage(month, users, tx, cpu, storage))
    return tuple(rows)


_EXPECTED: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "no_business": (frozenset({"no_business"}), frozenset()),
    "no_business_near": (frozenset(), frozenset({"no_business"})),
    "rep1": (frozenset({"replaceable"}), frozenset()),
    "rep2": (frozenset({"replaceable"}), frozenset()),
    "idle": (frozenset({"idle_resources"}), frozenset()),
    "idle_near_cpu": (frozenset(), frozenset({"idle_resources"})),
    "idle_near_unknown": (frozenset(), frozenset({"idle_resources"})),
    "no_maintenance": (frozenset({"no_maintenance"}), frozenset()),
    "no_maintenance_unknown": (frozenset({"no_maintenance"}), frozenset()),
    "no_maintenance_near": (frozenset(), frozenset({"no_maintenance"})),
    "low_usage": (frozenset({"low_usage"}), frozenset()),
    "low_usage_near_users": (frozenset(), frozenset({"low_usage"})),
    "low_usage_near_transactions": (frozenset(), frozenset({"low_usage"})),
    # retired systems are not evaluated although their usage would hit two rules
    "retired": (frozenset(), frozenset({"no_business", "low_usage"})),
}


def _scope(rng: random.Random, status: SharingStatus, mark: str) -> UsageScope:
    if mark in ("no_business", "no_business_near"):
        return UsageScope.cross_department
    if mark in ("vertical",):
        return UsageScope.cross_level
    if status == SharingStatus.shared:
        return rng.choice((UsageScope.cross_department, UsageScope.citywide, UsageScope.citywide))
    if status == SharingStatus.not_shared:
        return rng.choice((UsageScope.department, UsageScope.department, UsageScope.cross_department))
    if status == SharingStatus.department_internal:
        return UsageScope.department
    if status == SharingStatus.office_internal:
        return UsageScope.office
    return rng.choice((UsageScope.office, UsageScope.office, UsageScope.department))


def _maintained(rng: random.Random, reference: date, mark: str) -> date | None:
    if mark == "no_maintenance_unknown":
        return None
    if mark == "no_maintenance":
        return months_ago(reference, rng.choice((15, 27)), rng.randint(1, 28))
    if mark == "no_maintenance_near":
        return months_ago(reference, 11, 1)
    if mark == "retired":
        return months_ago(reference, 10, 15)
    return months_ago(reference, rng.randint(1, 9), rng.randint(1, 28))


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def _system(reference: date, months: tuple[str, ...], department: str, number: int, line: str) -> DemoSystem:
    letter, name, description, mark = (part.strip() for part in line.split("|"))
    code = f"{department}-{number:03d}"
    rng = random.Random(f"{SEED}:{code}")
    status = _STATUS_LETTERS[letter]
    scope = _scope(rng, status, mark)
    users_lo, users_hi = _USERS_RANGE[scope]
    tx_lo, tx_hi = _TX_RANGE[scope]
    profile = _Profile(
        users=rng.randint(users_lo, users_hi),
        transactions=rng.randint(tx_lo, tx_hi),
        cpu=rng.uniform(15, 70),
        storage=rng.uniform(22, 85),
    )
    usage = _usage(rng, months, profile, mark)
    connected = status == SharingStatus.shared and mark != "vertical"
    required = connected or mark in ("vertical", "om_unconnected", "unconnected")
    if mark == "vertical" and status != SharingStatus.shared:
        required = False
    if department in _VERTICAL_APPROVERS and mark == "vertical":
        approver = _VERTICAL_APPROVERS[department]
    else:
        approver = rng.choice(
            ("示范市发展和改革委员会", "示范市发展和改革委员会", "示范市大数据管理局", "示范市财政局")
        )
    cost_lo, cost_hi = _COST_RANGE[status]
    cost = rng.uniform(cost_lo, cost_hi)
    if status == SharingStatus.standalone:
        network = Network.intranet
    elif department in ("GA", "SWJ") or mark == "vertical":
        network = Network.private
    elif status == SharingStatus.shared:
        network = rng.choice((Network.extranet, Network.extranet, Network.internet))
    else:
        network = rng.choice((Network.extranet, Network.intranet))
    funding = FundingSource.government
    if status in (SharingStatus.office_internal, SharingStatus.standalone):
        funding = rng.choice((FundingSource.government, FundingSource.om_funds, FundingSource.purchased))
    elif rng.random() < 0.12:
        funding = rng.choice((FundingSource.joint, FundingSource.purchased))
    protection: int | None = 3 if status == SharingStatus.shared else rng.choice((2, 2, 3))
    if status in (SharingStatus.office_internal, SharingStatus.standalone):
        protection = rng.choice((None, 2))
    expected, near = _EXPECTED.get(mark, (frozenset(), frozenset()))
    system_status = SystemStatus.running
    integration_state = IntegrationState.none
    target = _TARGET_OF_MARK.get(mark)
    if mark in ("integrate_ga", "integrate_mz"):
        system_status, integration_state = SystemStatus.to_integrate, IntegrationState.planned
    elif mark == "retired":
        system_status, integration_state = SystemStatus.retired, IntegrationState.done
    last = usage[-1]
    return DemoSystem(
        code=code,
        name=name,
        department_code=department,
        description=description,
        usage_scope=scope,
        sharing_status=status,
        approving_department=approver,
        approval_date=date(rng.randint(2012, 2022), rng.randint(1, 12), rng.randint(1, 28)),
        funding_source=funding,
        construction_cost=_money(cost),
        annual_om_budget=_money(cost * rng.uniform(0.08, 0.15)),
        network=network,
        connected_to_platform=connected,
        connection_required=required,
        protection_level=protection,
        protection_assessed=False,  # set below for the few the audit found assessed
        offsite_backup=connected and rng.random() < 0.6,
        last_maintained_on=_maintained(rng, reference, mark),
        cpu_utilization=last.cpu_utilization,
        storage_utilization=last.storage_utilization,
        status=system_status,
        integration_target=target,
        integration_state=integration_state,
        usage=usage,
        expected_rules=expected,
        near_misses=near,
    )


# seed 003: “抽查的 121 个电子政务系统中，仅有 8 个开展过等级保护测评工作”
_ASSESSED = frozenset({"GA-001", "GA-002", "RS-001", "DSJ-001", "DSJ-002", "CZ-001", "WJ-001", "ZW-001"})


def build_city(today: date | None = None) -> DemoCity:
    """The whole demo city for the reference date (default today)."""
    reference = today or date.today()
    months = tuple(last_months(reference, USAGE_MONTHS))
    departments = tuple(
        DemoDepartment(code, name, short, credit_code(CITY[0], index + 1))
        for index, (code, name, short) in enumerate(_DEPARTMENTS)
    )
    systems: list[DemoSystem] = []
    for department in departments:
        lines = [line for line in _SYSTEMS[department.code].strip().splitlines() if line.strip()]
        for number, line in enumerate(lines, start=1):
            system = _system(reference, months, department.code, number, line)
            if system.code in _ASSESSED:
                system = replace(system, protection_assessed=True, offsite_backup=True)
            systems.append(system)
    year = reference.year
    filings = (
        DemoFiling(
            "GA-005",
            FilingKind.om,
            year,
            Decimal("48.00"),
            "治安管理综合系统年度运维（服务器、数据库维保及驻场运维）",
            "gongan",
            FilingReview.pending,
        ),
        DemoFiling(
            "MZ-001",
            FilingKind.om,
            year,
            Decimal("36.50"),
            "社会救助信息管理系统年度运维",
            "minzheng",
            FilingReview.approved,
            "已接入共享平台，同意备案",
            "admin",
        ),
        DemoFiling(
            "MZ-003",
            FilingKind.om,
            year,
            Decimal("12.80"),
            "养老服务管理系统年度运维",
            "minzheng",
            FilingReview.pending,
        ),
        DemoFiling(
            "DSJ-002",
            FilingKind.construction,
            year,
            Decimal("680.00"),
            "政务云管理平台二期扩容（计算、存储资源扩容）",
            None,
            FilingReview.approved,
            "符合统一规划，同意备案",
            "admin",
        ),
    )
    return DemoCity(
        reference=reference,
        months=months,
        districts=DISTRICTS,
        departments=departments,
        users=USERS,
        targets=_TARGETS,
        systems=tuple(systems),
        filings=filings,
    )
